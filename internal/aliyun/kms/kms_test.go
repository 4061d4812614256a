package kms_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/kms"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

const region = "cn-hangzhou"

var key = emulator.Credential{AccessKeyID: "STS.kmsTest", AccessKeySecret: "kms-test-secret", SecurityToken: "kms-test-token"}

func creds(c emulator.Credential) port.Credentials {
	return port.Credentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}
}

// open starts an emulator and opens the store at it, as the function does.
func open(t *testing.T) (*emulator.Server, port.Store) {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{key}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	st, err := kms.Kind{}.Open(port.Env{APITimeout: 5 * time.Second, Getenv: func(k string) string {
		if k == kms.EnvEndpoint {
			return emu.URL()
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	return emu, st
}

func ref(name string) *kms.Ref { return &kms.Ref{RegionID: region, SecretName: name} }

const stored = `{"auths":{"docker.io":{"username":"team","password":"foreign-password","auth":"dGVhbTpmb3JlaWduLXBhc3N3b3Jk"}},"credsStore":"desktop"}`

// A read, a write and its read-back: the value is the document itself, the
// write makes a new version that takes ACSCurrent, and the old one becomes
// ACSPrevious.
func TestReadWriteReadBack(t *testing.T) {
	emu, st := open(t)
	emu.CreateKMSSecret(region, "acr-pull", stored, false)
	ctx := context.Background()

	snap, err := st.Read(ctx, creds(key), ref("acr-pull"))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := snap.Find(ref("acr-pull"))
	if err != nil {
		t.Fatal(err)
	}
	want := port.Where{Store: "kms", Region: region, Fields: []port.Field{port.String("secretName", "acr-pull")}}
	if !reflect.DeepEqual(sec.Where, want) || sec.ID != region+"/acr-pull" || string(sec.Config) != stored || sec.Version != "v1" {
		t.Fatalf("read: where %+v id %q version %q, config as stored: %v", sec.Where, sec.ID, sec.Version, string(sec.Config) == stored)
	}

	merged := `{"auths":{"docker.io":{"username":"team","password":"foreign-password","auth":"dGVhbTpmb3JlaWduLXBhc3N3b3Jk"},"r.example.com":{"username":"u","password":"new","auth":"dTpuZXc="}},"credsStore":"desktop"}`
	version, err := st.Write(ctx, creds(key), sec, []byte(merged))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "rotator-") || len(version) > 64 {
		t.Errorf("version id %q: want rotator-..., at most 64 characters", version)
	}
	cur, ok := emu.KMSSecret(region, "acr-pull")
	if !ok || cur.ID != version || cur.Data != merged || cur.DataType != "text" {
		t.Errorf("stored current version %q type %q, as written: %v; want %q", cur.ID, cur.DataType, cur.Data == merged, version)
	}
	vs := emu.KMSVersions(region, "acr-pull")
	if len(vs) != 2 || vs[0].ID != "v1" || strings.Join(vs[0].Stages, ",") != "ACSPrevious" || strings.Join(vs[1].Stages, ",") != "ACSCurrent" {
		t.Errorf("versions after the write: %d, stages of v1 %v", len(vs), vs[0].Stages)
	}
	for _, c := range emu.Calls() {
		if c.Action == "PutSecretValue" && (c.Query.Get("SecretDataType") != "text" || c.Query.Get("VersionStages") != `["ACSCurrent"]` || c.Query.Get("VersionId") != version) {
			t.Errorf("PutSecretValue sent type %q stages %q version %q", c.Query.Get("SecretDataType"), c.Query.Get("VersionStages"), c.Query.Get("VersionId"))
		}
	}

	got, err := st.ReadBack(ctx, creds(key), sec, version)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != version || string(got.Config) != merged {
		t.Errorf("read back version %q (want %q), config as written: %v", got.Version, version, string(got.Config) == merged)
	}
	// Two writes never share a version id.
	v2, err := st.Write(ctx, creds(key), sec, []byte(merged))
	if err != nil || v2 == version {
		t.Errorf("second write: %q, %v; want a new version id", v2, err)
	}
	var perms []string
	for _, c := range emu.Calls() {
		perms = append(perms, c.Permission())
		if c.AccessKeyID != key.AccessKeyID || c.SecurityToken != key.SecurityToken || c.Status != 200 {
			t.Errorf("%s: signed by %q, answered %d %s", c.Action, c.AccessKeyID, c.Status, c.Code)
		}
	}
	if strings.Join(perms, " ") != "kms:GetSecretValue kms:PutSecretValue kms:GetSecretValue kms:PutSecretValue" {
		t.Errorf("calls %v", perms)
	}
}

// Secrets that are not rotated, and failed calls, fail with the code the
// report shows, or with an APIError the engine retries by.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seed      func(*emulator.Server)
		signer    emulator.Credential
		code      port.Code // from Read or Find
		apiCode   string    // an APIError instead
		throttled bool
		transient bool
	}{
		{name: "binary", seed: func(e *emulator.Server) { e.CreateKMSSecret(region, "s", "AAECAwQF", true) }, code: port.UnsupportedSecretType},
		{name: "not JSON", seed: func(e *emulator.Server) { e.CreateKMSSecret(region, "s", "user:password", false) }, code: port.CorruptSecretData},
		{name: "empty", seed: func(e *emulator.Server) { e.CreateKMSSecret(region, "s", "", false) }, code: port.CorruptSecretData},
		{name: "JSON but not an object", seed: func(e *emulator.Server) { e.CreateKMSSecret(region, "s", `["a"]`, false) }, code: port.CorruptSecretData},
		{name: "auths not an object", seed: func(e *emulator.Server) { e.CreateKMSSecret(region, "s", `{"auths":"x"}`, false) }, code: port.CorruptSecretData},
		{name: "missing", seed: func(e *emulator.Server) { e.CreateKMSSecret("cn-beijing", "s", `{}`, false) }, code: port.SecretNotFound},
		{name: "throttled", seed: func(e *emulator.Server) {
			e.CreateKMSSecret(region, "s", `{}`, false)
			e.SetFault("kms", emulator.Fault{Throttle: 1})
		}, apiCode: "Rejected.Throttling", throttled: true},
		{name: "5xx", seed: func(e *emulator.Server) {
			e.CreateKMSSecret(region, "s", `{}`, false)
			e.SetFault("GetSecretValue", emulator.Fault{Fail: 1, FailStatus: 503})
		}, apiCode: "ServiceUnavailableTemporary", transient: true},
		{name: "signature mismatch", seed: func(e *emulator.Server) { e.CreateKMSSecret(region, "s", `{}`, false) },
			signer: emulator.Credential{AccessKeyID: key.AccessKeyID, AccessKeySecret: "not-the-secret", SecurityToken: key.SecurityToken}, apiCode: "SignatureDoesNotMatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, st := open(t)
			tc.seed(emu)
			signer := key
			if tc.signer.AccessKeyID != "" {
				signer = tc.signer
			}
			snap, err := st.Read(context.Background(), creds(signer), ref("s"))
			if err == nil {
				_, err = snap.Find(ref("s"))
			}
			if tc.apiCode != "" {
				var ae port.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != tc.apiCode || ae.Throttled() != tc.throttled || ae.Transient() != tc.transient {
					t.Fatalf("got %v; want an APIError %s (throttled %v, transient %v)", err, tc.apiCode, tc.throttled, tc.transient)
				}
				if !strings.Contains(err.Error(), "kms GetSecretValue: HTTP") {
					t.Errorf("error %q does not name the call", err)
				}
				return
			}
			if port.CodeOf(err) != tc.code {
				t.Fatalf("got %v; want %s", err, tc.code)
			}
			for _, v := range emu.KMSValues() {
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Errorf("the error quotes the secret's value")
				}
			}
		})
	}
}

// A write to a secret deleted since the read is SecretNotFound; a server
// that quotes the request back keeps the value out of Error(), but not out
// of ServerMessage() (which the engine redacts).
func TestWriteErrors(t *testing.T) {
	emu, st := open(t)
	emu.CreateKMSSecret(region, "s", `{}`, false)
	sec := port.Secret{Where: ref("s").Where(), ID: region + "/s", Handle: ref("s")}
	const value = `{"auths":{"r.example.com":{"username":"u","password":"written-password-value"}}}`

	emu.SetKMSEcho(true)
	emu.SetFault("PutSecretValue", emulator.Fault{Fail: 1})
	_, err := st.Write(context.Background(), creds(key), sec, []byte(value))
	var ae port.APIError
	if !errors.As(err, &ae) || !ae.Transient() || ae.ErrorCode() != "InternalFailure" {
		t.Fatalf("got %v; want a transient InternalFailure", err)
	}
	if strings.Contains(err.Error(), "written-password-value") {
		t.Error("Error() quotes the written value")
	}
	if !strings.Contains(ae.ServerMessage(), "written-password-value") {
		t.Error("the emulator's echo did not reach ServerMessage(): the check above proves nothing")
	}

	sec.Where, sec.Handle = ref("gone").Where(), ref("gone")
	if _, err := st.Write(context.Background(), creds(key), sec, []byte(value)); port.CodeOf(err) != port.SecretNotFound {
		t.Errorf("write to a missing secret: %v; want SecretNotFound", err)
	}
	if _, err := st.ReadBack(context.Background(), creds(key), port.Secret{Where: ref("s").Where(), Handle: ref("s")}, "no-such-version"); port.CodeOf(err) != port.SecretNotFound {
		t.Errorf("read-back of a missing version: %v; want SecretNotFound", err)
	}
}

func TestRefValidate(t *testing.T) {
	for _, tc := range []struct {
		ref  kms.Ref
		want string
	}{
		{kms.Ref{RegionID: region, SecretName: "acr-pull"}, ""},
		{kms.Ref{RegionID: region, SecretName: "acs:kms:cn-hangzhou:123:secret/acr-pull"}, ""},
		{kms.Ref{SecretName: "acr-pull"}, "regionId: is required"},
		{kms.Ref{RegionID: "Hangzhou", SecretName: "acr-pull"}, "regionId: \"Hangzhou\""},
		{kms.Ref{RegionID: region}, "secretName: is required"},
		{kms.Ref{RegionID: region, SecretName: "acr pull"}, "secretName: must be printable"},
	} {
		err := tc.ref.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v; want %q", tc.ref, err, tc.want)
		}
	}
	r := kms.Ref{RegionID: region, SecretName: "acr-pull"}
	if r.Key() != "cn-hangzhou/acr-pull" || r.Group() != r.Key() {
		t.Errorf("key %q group %q", r.Key(), r.Group())
	}
}

func TestOpenAndCredentials(t *testing.T) {
	_, err := kms.Kind{}.Open(port.Env{Getenv: func(k string) string {
		if k == "ROTATOR_KMS_ENDPOINT" {
			return "http://kms.cn-hangzhou.aliyuncs.com"
		}
		return ""
	}})
	if err == nil || !strings.Contains(err.Error(), "ROTATOR_KMS_ENDPOINT") {
		t.Errorf("plain http to a remote host: %v; want it refused naming the variable", err)
	}
	_, st := open(t)
	c, ok := st.(interface {
		CheckCredentials(port.Credentials) error
	})
	if !ok {
		t.Fatal("the store does not check credentials")
	}
	if err := c.CheckCredentials(port.Credentials{}); port.CodeOf(err) != port.InvalidConfig {
		t.Errorf("no credentials: %v; want InvalidConfig", err)
	}
	if q := st.Quota(); q.Calls <= 0 || q.Per <= 0 {
		t.Errorf("quota %+v", q)
	}
}

// An answer without SecretData is corrupt, never an empty value.
func TestAbsentSecretData(t *testing.T) {
	emu, st := open(t)
	emu.CreateKMSSecret(region, "s", `{"auths":{}}`, false)
	emu.SetAnswerEdit("kms", "GetSecretValue", func(ans map[string]any) { delete(ans, "SecretData") })
	snap, err := st.Read(context.Background(), creds(key), ref("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Find(ref("s")); port.CodeOf(err) != port.CorruptSecretData || !strings.Contains(err.Error(), "carries no SecretData") {
		t.Errorf("got %v; want CorruptSecretData saying the answer carries no SecretData", err)
	}
}

// A docker config over KMS's 30720 bytes is ValueTooLarge, checked before
// any request (also by Write itself); 30720 bytes pass.
func TestSizeLimit(t *testing.T) {
	emu, st := open(t)
	emu.CreateKMSSecret(region, "s", `{"auths":{}}`, false)
	sec := port.Secret{Where: ref("s").Where(), ID: region + "/s", Handle: ref("s")}
	big := []byte(`{"x":"` + strings.Repeat("a", kms.MaxSecretData-7) + `"}`)
	if len(big) != kms.MaxSecretData+1 {
		t.Fatalf("test value of %d bytes", len(big))
	}
	err := st.(port.SizeLimiter).CheckSize(sec, big)
	if port.CodeOf(err) != port.ValueTooLarge || !strings.Contains(err.Error(), "30721 bytes") || !strings.Contains(err.Error(), "at most 30720 bytes") {
		t.Errorf("CheckSize: %v; want ValueTooLarge giving the size and the limit", err)
	}
	if _, err := st.Write(context.Background(), creds(key), sec, big); port.CodeOf(err) != port.ValueTooLarge {
		t.Errorf("Write: %v; want ValueTooLarge", err)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Errorf("%d calls sent for a value over the limit", n)
	}
	if err := st.(port.SizeLimiter).CheckSize(sec, big[1:]); err != nil {
		t.Errorf("a value of exactly the limit: %v", err)
	}
}
