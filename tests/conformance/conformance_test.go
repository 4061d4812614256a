// Package conformance_test holds the emulator and the adapters to the
// clouds' API references: the real adapters, through the clouds' SDKs over
// HTTP, drive every API the function calls against the emulator, behind a
// proxy that records each exchange. Every JSON answer of SAE, ACR (both
// editions), KMS and STS may carry only the members the API model lists, at
// the nesting it lists, and a success answer every top-level member it
// lists but those documented as conditional; every request only the
// parameters it lists, in the place it lists, besides the SDK's signing
// parameters. Huawei CSMS and Tencent SSM are held to their SDKs' own
// types, unknown members refused.
package conformance_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	kmssdk "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
	saesdk "github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/acr"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/kms"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/internal/huawei/csms"
	"github.com/sae-secret-rotator/rotator/internal/tencent/ssm"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

const (
	ns       = "cn-hangzhou:prod"
	region   = "cn-hangzhou"
	instance = "cri-conformance"
	role     = "acs:ram::1234567890123456:role/acr-token-minter"
	project  = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
)

var key = emulator.Credential{AccessKeyID: "STS.conformance", AccessKeySecret: "conformance-secret", SecurityToken: "conformance-token"}

// cloud is an emulator with one secret of each store, an ACR instance and
// a role, and the recorder in front of it that every adapter calls.
type cloud struct {
	emu   *emulator.Server
	rec   *recorder
	env   port.Env
	creds port.Credentials
	saeID int64
}

func newCloud(t *testing.T) *cloud {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{key}, Quota: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	doc := `{"auths":{"docker.io":{"username":"team","password":"kept"}}}`
	id, err := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "acr-pull", Type: sae.DockerConfigType,
		Data:       map[string]string{sae.DockerConfigKey: base64.StdEncoding.EncodeToString([]byte(doc)), "notes": "kept"},
		RelateApps: []emulator.App{{AppID: "app-1", AppName: "web"}}})
	if err != nil {
		t.Fatal(err)
	}
	emu.AddInstance(emulator.Instance{ID: instance, RegionID: region})
	emu.AddRole(role)
	emu.CreateKMSSecret(region, "acr-pull", doc, false)
	emu.AddHuaweiCredential(emulator.DefaultHuaweiCredential)
	if err := emu.CreateCSMSSecret(project, "acr-pull", doc, false); err != nil {
		t.Fatal(err)
	}
	emu.AddTencentCredential(emulator.DefaultTencentCredential)
	if err := emu.CreateSSMSecret("ap-guangzhou", "acr-pull", "current", doc, false); err != nil {
		t.Fatal(err)
	}
	rec := record(t, emu.URL())
	vars := map[string]string{
		sae.EnvEndpoint: rec.URL, acr.EnvEndpoint: rec.URL, acr.EnvSTSEndpoint: rec.URL, kms.EnvEndpoint: rec.URL,
		csms.EnvEndpoint: rec.URL, csms.EnvAK: emulator.DefaultHuaweiCredential.AK, csms.EnvSK: emulator.DefaultHuaweiCredential.SK,
		ssm.EnvEndpoint: rec.URL, ssm.EnvSecretID: emulator.DefaultTencentCredential.SecretID, ssm.EnvSecretKey: emulator.DefaultTencentCredential.SecretKey,
	}
	return &cloud{emu: emu, rec: rec, saeID: id,
		env:   port.Env{Getenv: func(k string) string { return vars[k] }, APITimeout: 5 * time.Second, Quota: port.Quota{Calls: 60}},
		creds: port.Credentials{AccessKeyID: key.AccessKeyID, AccessKeySecret: key.AccessKeySecret, SecurityToken: key.SecurityToken}}
}

func (c *cloud) store(t *testing.T, kind port.StoreKind) port.Store {
	t.Helper()
	st, err := kind.Open(c.env)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (c *cloud) source(t *testing.T, kind port.SourceKind) port.Source {
	t.Helper()
	src, err := kind.Open(c.env)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// read reads a secret as the engine does: the ref ReadAlone gives, or the
// group and then, where Find answers Resolved, the secret alone.
func (c *cloud) read(st port.Store, ref port.SecretRef) (port.Secret, error) {
	if r, ok := st.(port.Resolver); ok {
		if alone, ok := r.ReadAlone(ref); ok {
			ref = alone
		}
	}
	for {
		snap, err := st.Read(context.Background(), c.creds, ref)
		if err != nil {
			return port.Secret{}, err
		}
		sec, err := snap.Find(ref)
		var res *port.Resolved
		if !errors.As(err, &res) {
			return sec, err
		}
		ref = res.Ref
	}
}

// rotate reads, writes and reads back one secret.
func (c *cloud) rotate(t *testing.T, st port.Store, ref port.SecretRef) {
	t.Helper()
	sec, err := c.read(st, ref)
	if err != nil {
		t.Fatalf("%+v: read: %v", ref.Where(), err)
	}
	merged := `{"auths":{"docker.io":{"username":"team","password":"kept"},"r.example.com":{"username":"u","password":"new","auth":"dTpuZXc="}}}`
	version, err := st.Write(context.Background(), c.creds, sec, []byte(merged))
	if err != nil {
		t.Fatalf("%+v: write: %v", ref.Where(), err)
	}
	if _, err := st.ReadBack(context.Background(), c.creds, sec, version); err != nil {
		t.Fatalf("%+v: read back: %v", ref.Where(), err)
	}
}

// fails makes a call that must fail, for its error answer.
func fails(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded; the test wants its error answer", what)
	}
}

// exercise calls every API the function calls, and a few that fail.
func (c *cloud) exercise(t *testing.T) {
	ctx := context.Background()
	saeStore := c.store(t, sae.Kind{})
	c.rotate(t, saeStore, &sae.Ref{NamespaceID: ns, SecretName: "acr-pull"}) // ListSecrets, DescribeSecret, UpdateSecret, DescribeSecret
	_, err := c.read(saeStore, &sae.Ref{NamespaceID: ns, SecretID: 999})
	fails(t, "DescribeSecret of no secret", err)
	_, err = c.read(saeStore, &sae.Ref{NamespaceID: "cn-hangzhou:none", SecretName: "x"})
	fails(t, "ListSecrets of no namespace", err)
	c.emu.SetFault("ListSecrets", emulator.Fault{Throttle: 1})
	_, err = c.read(c.store(t, sae.Kind{}), &sae.Ref{NamespaceID: ns, SecretName: "acr-pull"})
	fails(t, "a throttled ListSecrets", err)
	c.createSAESecret(t)

	ee, personal := c.source(t, acr.EEKind{}), c.source(t, acr.PersonalKind{})
	if _, err := ee.Domains(ctx, c.creds, &acr.EEConfig{InstanceID: instance, RegionID: region}); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []*acr.EEConfig{{InstanceID: instance, RegionID: region}, {InstanceID: instance, RegionID: region, AssumeRole: role}} {
		if _, err := ee.Mint(ctx, c.creds, cfg); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ee.Mint(ctx, c.creds, &acr.EEConfig{InstanceID: "cri-none", RegionID: region})
	fails(t, "GetAuthorizationToken of no instance", err)
	_, err = ee.Mint(ctx, c.creds, &acr.EEConfig{InstanceID: instance, RegionID: region, AssumeRole: "acs:ram::1234567890123456:role/none"})
	fails(t, "AssumeRole of no role", err)
	if _, err := personal.Mint(ctx, c.creds, &acr.PersonalConfig{RegionID: region}); err != nil {
		t.Fatal(err)
	}

	kmsStore := c.store(t, kms.Kind{})
	c.rotate(t, kmsStore, &kms.Ref{RegionID: region, SecretName: "acr-pull"})
	_, err = c.read(kmsStore, &kms.Ref{RegionID: region, SecretName: "none"})
	fails(t, "GetSecretValue of no secret", err)

	csmsStore := c.store(t, csms.Kind{})
	c.rotate(t, csmsStore, &csms.Ref{Region: "cn-north-4", ProjectID: project, SecretName: "acr-pull"})
	_, err = c.read(csmsStore, &csms.Ref{Region: "cn-north-4", ProjectID: project, SecretName: "none"})
	fails(t, "ShowSecretVersion of no secret", err)

	ssmStore := c.store(t, ssm.Kind{})
	c.rotate(t, ssmStore, &ssm.Ref{Region: "ap-guangzhou", SecretName: "acr-pull", VersionID: "current"})
	_, err = c.read(ssmStore, &ssm.Ref{Region: "ap-guangzhou", SecretName: "none", VersionID: "current"})
	fails(t, "GetSecretValue of no SSM secret", err)
}

// createSAESecret calls CreateSecret, which no adapter calls but the
// emulator serves, with the SDK: its answer is held to the model too.
func (c *cloud) createSAESecret(t *testing.T) {
	t.Helper()
	client, err := saesdk.NewClientWithOptions(region, sdk.NewConfig().WithScheme("HTTP"),
		credentials.NewStsTokenCredential(key.AccessKeyID, key.AccessKeySecret, key.SecurityToken))
	if err != nil {
		t.Fatal(err)
	}
	req := saesdk.CreateCreateSecretRequest()
	req.Scheme, req.Domain, req.Port = "http", "127.0.0.1", strings.TrimPrefix(c.rec.URL[strings.LastIndex(c.rec.URL, ":"):], ":")
	req.NamespaceId, req.SecretName, req.SecretType = ns, "created", "Opaque"
	req.SecretData = `{"SecretData":"{\"k\":\"v\"}"}`
	if _, err := client.CreateSecret(req); err != nil {
		t.Fatal(err)
	}
}

// check holds one exchange to its reference and names the API it is for.
func check(models []*api, ex *exchange) (name string, bad []string) {
	switch {
	case ex.huawei():
		name, bad = checkHuawei(ex)
		name = "csms " + name
	case ex.tencent():
		name, bad = checkTencent(ex)
		name = "ssm " + name
	default:
		a := findAPI(models, ex)
		if a == nil {
			return ex.Method + " " + ex.Path, []string{"no API of the models"}
		}
		name = a.Product + " " + a.Name
		for _, b := range checkRequest(a, ex) {
			bad = append(bad, "request: "+b)
		}
		for _, b := range checkAnswer(a, ex) {
			bad = append(bad, "answer: "+b)
		}
	}
	if ex.failed() || ex.tencent() && strings.Contains(string(ex.Answer), `"Error"`) {
		name += " (error)"
	}
	return name, bad
}

// The emulator answers, and the adapters ask, as the references document.
func TestEmulatorAndAdaptersFollowTheReferences(t *testing.T) {
	models := loadModels(t)
	c := newCloud(t)
	c.exercise(t)
	seen := map[string]bool{}
	for _, ex := range c.rec.take() {
		name, bad := check(models, ex)
		seen[name] = true
		for _, b := range bad {
			t.Errorf("%s: %s", name, b)
		}
	}
	for name, members := range conditional {
		a := byName(models, name)
		for k := range members {
			if _, ok := a[k]; !ok {
				t.Errorf("conditional: %s has no top-level member %s", name, k)
			}
		}
	}
	for _, want := range []string{
		"sae 2019-05-06 ListSecrets", "sae 2019-05-06 DescribeSecret", "sae 2019-05-06 UpdateSecret", "sae 2019-05-06 CreateSecret",
		"sae 2019-05-06 ListSecrets (error)", "sae 2019-05-06 DescribeSecret (error)",
		"cr 2018-12-01 ListInstanceEndpoint", "cr 2018-12-01 GetAuthorizationToken", "cr 2018-12-01 GetAuthorizationToken (error)",
		"cr 2016-06-07 GetAuthorizationToken", "sts 2015-04-01 AssumeRole", "sts 2015-04-01 AssumeRole (error)",
		"kms 2016-01-20 GetSecretValue", "kms 2016-01-20 PutSecretValue", "kms 2016-01-20 GetSecretValue (error)",
		"csms ShowSecretVersion", "csms CreateSecretVersion", "csms ShowSecretVersion (error)",
		"ssm GetSecretValue", "ssm UpdateSecret", "ssm GetSecretValue (error)",
	} {
		if !seen[want] {
			t.Errorf("%s was not exercised", want)
		}
	}
}

// The check can fail: exchanges that differ from the references, as an
// older API or a careless adapter would make them, are each refused.
func TestTheCheckRefusesDoctoredExchanges(t *testing.T) {
	models := loadModels(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *cloud)
		want string // a violation says this
	}{
		{"ListSecrets carrying SecretData, as older API versions did", func(t *testing.T, c *cloud) {
			c.emu.SetListSecretsData(true)
			if _, err := c.read(c.store(t, sae.Kind{}), &sae.Ref{NamespaceID: ns, SecretName: "acr-pull"}); err != nil {
				t.Fatal(err)
			}
		}, "sae 2019-05-06 ListSecrets: answer: Data.Secrets[0].SecretData: not in the model"},
		{"a DescribeSecret member in the wrong place", func(t *testing.T, c *cloud) {
			c.emu.SetAnswerEdit("sae", "DescribeSecret", func(ans map[string]any) { ans["SecretName"] = "acr-pull" })
			_, _ = c.read(c.store(t, sae.Kind{}), &sae.Ref{NamespaceID: ns, SecretID: c.saeID})
		}, "sae 2019-05-06 DescribeSecret: answer: SecretName: not in the model"},
		{"a Personal Edition token answer without requestId", func(t *testing.T, c *cloud) {
			c.emu.SetAnswerEdit("cr", "GetAuthorizationToken", func(ans map[string]any) { delete(ans, "requestId") })
			if _, err := c.source(t, acr.PersonalKind{}).Mint(context.Background(), c.creds, &acr.PersonalConfig{RegionID: region}); err != nil {
				t.Fatal(err)
			}
		}, "cr 2016-06-07 GetAuthorizationToken: answer: requestId: missing"},
		{"KMS SecretData sent in the form body", func(t *testing.T, c *cloud) {
			client, err := kmssdk.NewClientWithOptions(region, sdk.NewConfig().WithScheme("HTTP"),
				credentials.NewStsTokenCredential(key.AccessKeyID, key.AccessKeySecret, key.SecurityToken))
			if err != nil {
				t.Fatal(err)
			}
			req := kmssdk.CreatePutSecretValueRequest()
			req.Scheme, req.Domain = "http", strings.TrimPrefix(c.rec.URL, "http://")
			req.SecretName, req.VersionId = "acr-pull", "v2"
			req.FormParams["SecretData"] = `{"auths":{}}`
			if _, err := client.PutSecretValue(req); err != nil {
				t.Fatal(err)
			}
		}, `kms 2016-01-20 PutSecretValue: request: body parameter SecretData: the model places it in "query"`},
		{"a CSMS answer with a member its SDK type lacks", func(t *testing.T, c *cloud) {
			c.emu.SetAnswerEdit("csms", "ShowSecretVersion", func(ans map[string]any) { ans["version"].(map[string]any)["secret_text"] = "x" })
			_, _ = c.read(c.store(t, csms.Kind{}), &csms.Ref{Region: "cn-north-4", ProjectID: project, SecretName: "acr-pull"})
		}, `csms ShowSecretVersion: answer: json: unknown field "secret_text"`},
		{"an SSM answer with a member its SDK type lacks", func(t *testing.T, c *cloud) {
			c.emu.SetAnswerEdit("ssm", "GetSecretValue", func(ans map[string]any) { ans["Response"].(map[string]any)["SecretText"] = "x" })
			_, _ = c.read(c.store(t, ssm.Kind{}), &ssm.Ref{Region: "ap-guangzhou", SecretName: "acr-pull", VersionID: "current"})
		}, `ssm GetSecretValue: answer: json: unknown field "SecretText"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			tc.run(t, c)
			var all []string
			for _, ex := range c.rec.take() {
				name, bad := check(models, ex)
				for _, b := range bad {
					all = append(all, name+": "+b)
				}
			}
			found := false
			for _, v := range all {
				found = found || v == tc.want
			}
			if !found {
				b, _ := json.Marshal(all)
				t.Errorf("the check did not refuse the exchange: want %q among the violations %s", tc.want, b)
			}
		})
	}
}
