// Command demo runs one full rotation locally: it starts the bundled
// emulator of SAE, ACR (Enterprise and Personal Edition), STS, KMS, Huawei
// Cloud CSMS and the FC runtime API, builds the function, runs
// it under the emulated runtime, sends a timer event and prints the
// function's logs and its report. No cloud account is needed.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// sts is the function role's credential that the emulated FC passes with
// each invocation; the emulator accepts only it.
var sts = emulator.Credential{AccessKeyID: "STS.demoFunctionRole", AccessKeySecret: "demo-sts-secret", SecurityToken: "demo-security-token"}

// huawei is the Huawei Cloud key the function signs CSMS calls with, from
// its environment; csmsProject holds the CSMS secret.
var huawei = emulator.DefaultHuaweiCredential

const csmsProject = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"

func dockerConfig(auths map[string]map[string]string, extra map[string]any) string {
	cfg := map[string]any{"auths": auths}
	for k, v := range extra {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	return base64.StdEncoding.EncodeToString(b)
}

func entry(user, pass string) map[string]string {
	return map[string]string{"username": user, "password": pass, "auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
}

// minter is the role the EE source mints with: its fresh session makes
// the token live its hour, where the function's own credentials (passed
// here with fifteen minutes left) would cut it short.
const minter = "acs:ram::1234567890123456:role/acr-token-minter"

func run() error {
	sts.Expires = time.Now().Add(15 * time.Minute)
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{sts}})
	if err != nil {
		return err
	}
	defer emu.Close()
	emu.AddRole(minter, sts.AccessKeyID)                                        // the minting role trusts the function's role
	emu.AddInstance(emulator.Instance{ID: "cri-demo", RegionID: "cn-hangzhou"}) // public and VPC endpoints
	// A token carries the permissions of the identity that minted it: the
	// minting role may pull from the instance (deploy/ram-minting-role-policy.json),
	// and a CI job that may push has pushed the image the rotator proves a
	// new token on (probeRepository: demo/app).
	if err := emu.Grant(minter, emulator.ActionPull, "acs:cr:cn-hangzhou:1234567890123456:repository/cri-demo/*"); err != nil {
		return err
	}
	digest, err := push(emu)
	if err != nil {
		return err
	}
	step("a CI job pushed demo/app:v1 (%s) to the emulator's registry (CNCF Distribution)", digest)
	prod, err := emu.CreateSecret(emulator.Secret{NamespaceID: "cn-hangzhou:prod", Name: "acr-pull", Type: "kubernetes.io/dockerconfigjson",
		Data: map[string]string{".dockerconfigjson": dockerConfig(map[string]map[string]string{
			"HTTPS://cri-demo-registry.cn-hangzhou.cr.aliyuncs.com/": entry("cr_temp_user", "expired-token"),
			"docker.io": entry("team", "docker-hub-password"),
		}, map[string]any{"credsStore": "desktop"})},
		RelateApps: []emulator.App{{AppID: "0d3f-prod-api", AppName: "prod-api"}, {AppID: "77aa-prod-web", AppName: "prod-web"}}})
	if err != nil {
		return err
	}
	if _, err := emu.CreateSecret(emulator.Secret{NamespaceID: "cn-hangzhou:staging", Name: "acr-pull", Type: "kubernetes.io/dockerconfigjson",
		Data:       map[string]string{".dockerconfigjson": dockerConfig(map[string]map[string]string{}, nil)},
		RelateApps: []emulator.App{{AppID: "5e21-staging-api", AppName: "staging-api"}}}); err != nil {
		return err
	}
	// A KMS secret holds the docker config document itself, not base64.
	kmsValue, _ := base64.StdEncoding.DecodeString(dockerConfig(map[string]map[string]string{"docker.io": entry("team", "docker-hub-password")}, nil))
	emu.CreateKMSSecret("cn-hangzhou", "acr-pull", string(kmsValue), false)
	// A Huawei Cloud CSMS secret: its value is the docker config itself too.
	emu.AddHuaweiCredential(huawei)
	if err := emu.CreateCSMSSecret(csmsProject, "acr-pull", string(kmsValue), false); err != nil {
		return err
	}
	// Tencent Cloud SSM: a secret whose version "current" holds another registry's login.
	emu.AddTencentCredential(emulator.DefaultTencentCredential)
	ssmDoc, _ := base64.StdEncoding.DecodeString(dockerConfig(map[string]map[string]string{"ccr.ccs.tencentyun.com": entry("100012345678", "tcr-password")}, nil))
	if err := emu.CreateSSMSecret("ap-guangzhou", "acr-pull", "current", string(ssmDoc), false); err != nil {
		return err
	}
	if _, err := emu.CreateSecret(emulator.Secret{NamespaceID: "cn-hangzhou:prod", Name: "personal-pull", Type: "kubernetes.io/dockerconfigjson",
		Data: map[string]string{".dockerconfigjson": dockerConfig(map[string]map[string]string{}, nil)}}); err != nil {
		return err
	}
	// Two sources: ACR EE minting with an assumed role (its token lives an
	// hour, and is proven by pulling demo/app before anything is written)
	// for SAE, KMS, CSMS and SSM secrets, and ACR Personal Edition minting
	// with the function's own credentials (its token dies with them:
	// flagged expiresBeforeNextRun).
	config := fmt.Sprintf(`{"schedule":{"interval":"20m"},"targets":[{"name":"prod-pull",
 "source":{"type":"acr-ee","instanceId":"cri-demo","regionId":"cn-hangzhou","assumeRole":%q,"probeRepository":"demo/app"},
 "secrets":[{"namespaceId":"cn-hangzhou:prod","secretId":%d},{"namespaceId":"cn-hangzhou:staging","secretName":"acr-pull"},
  {"store":"kms","regionId":"cn-hangzhou","secretName":"acr-pull"},
  {"store":"csms","region":"cn-north-4","projectId":"%s","secretName":"acr-pull"},
  {"store":"ssm","region":"ap-guangzhou","secretName":"acr-pull","versionId":"current"}]},
 {"name":"personal-pull","source":{"type":"acr-personal","regionId":"cn-hangzhou"},
 "secrets":[{"namespaceId":"cn-hangzhou:prod","secretName":"personal-pull"}]}]}`, minter, prod, csmsProject)

	dir, err := os.MkdirTemp("", "rotator-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "main")
	step("building the function as it ships (internal/fnbuild), for this machine: %s", bin)
	root, err := fnbuild.ModuleRoot()
	if err != nil {
		return err
	}
	if err := fnbuild.Build(root, bin, "", ""); err != nil {
		return err
	}

	step("starting it under the emulated FC runtime API at %s", emu.RuntimeAPI())
	fn := exec.Command(bin)
	fn.Env = append(os.Environ(), "FC_RUNTIME_API="+emu.RuntimeAPI(), "ROTATOR_CONFIG="+config,
		"ROTATOR_SAE_ENDPOINT="+emu.URL(), "ROTATOR_CR_ENDPOINT="+emu.URL(), "ROTATOR_REGISTRY_ENDPOINT="+emu.URL(),
		"ROTATOR_KMS_ENDPOINT="+emu.URL(), "ROTATOR_STS_ENDPOINT="+emu.URL(),
		"ROTATOR_CSMS_ENDPOINT="+emu.URL(), "HUAWEICLOUD_SDK_AK="+huawei.AK, "HUAWEICLOUD_SDK_SK="+huawei.SK,
		"ROTATOR_SSM_ENDPOINT="+emu.URL(), "TENCENTCLOUD_SECRET_ID="+emulator.DefaultTencentCredential.SecretID,
		"TENCENTCLOUD_SECRET_KEY="+emulator.DefaultTencentCredential.SecretKey)
	fn.Stdout, fn.Stderr = prefixed("  fn| "), prefixed("  fn| ")
	if err := fn.Start(); err != nil {
		return err
	}
	defer func() { _ = fn.Process.Kill(); _ = fn.Wait() }()

	event := `{"triggerTime":"` + time.Now().UTC().Format(time.RFC3339) + `","triggerName":"every20m","payload":""}`
	step("invoking it with a timer event: %s", event)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := emu.Invoke(ctx, emulator.Invocation{Payload: []byte(event), Timeout: 90 * time.Second, Credentials: sts})
	if err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // let the last log lines through

	// A failed invocation's error message is the report (cut to its first
	// failures when it is large: docs/report.md).
	report, err := res.Output()
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, report, "", "  ") != nil {
		pretty.Write(report)
	}
	step("the report (the invocation's result):")
	fmt.Println(pretty.String())

	step("API calls the function made (by signer: the function's role, or the minting role's session; a registry token by the key that minted the credential):")
	for _, c := range emu.Calls() {
		fmt.Fprintf(os.Stdout, "  %-4s %-22s %s %s\n", c.Product, c.Action, statusText(c.Status, c.Code), c.AccessKeyID)
	}
	step("the secrets now (passwords not shown):")
	for _, ns := range []string{"cn-hangzhou:prod", "cn-hangzhou:staging"} {
		for _, s := range emu.Secrets(ns) {
			fmt.Fprintf(os.Stdout, "  %s secret %d %q\n", ns, s.ID, s.Name)
			describe(s.Data[".dockerconfigjson"])
		}
	}
	for _, v := range emu.KMSVersions("cn-hangzhou", "acr-pull") {
		fmt.Fprintf(os.Stdout, "  kms secret \"acr-pull\" in cn-hangzhou, version %s %v\n", v.ID, v.Stages)
		describe(base64.StdEncoding.EncodeToString([]byte(v.Data)))
	}
	if value, version, ok := emu.CSMSSecret(csmsProject, "acr-pull"); ok {
		fmt.Fprintf(os.Stdout, "  csms secret %q in project %s, version %s\n", "acr-pull", csmsProject, version)
		describe(base64.StdEncoding.EncodeToString([]byte(value)))
	}
	if v, ok := emu.SSMSecret("ap-guangzhou", "acr-pull", "current"); ok {
		fmt.Fprintf(os.Stdout, "  ssm ap-guangzhou secret %q version %q\n", "acr-pull", "current")
		describe(base64.StdEncoding.EncodeToString([]byte(v)))
	}
	if res.Failed {
		return fmt.Errorf("the rotation reported failures")
	}
	return nil
}

// push pushes a small random image as a CI job would, with an identity
// that may push (go-containerregistry's remote.Write, in Publish); the
// push's calls are then forgotten, so the listing below is the function's.
func push(emu *emulator.Server) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return emu.Publish(ctx, "cri-demo", "demo/app", "v1")
}

func describe(encoded string) {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return
	}
	var cfg map[string]json.RawMessage
	_ = json.Unmarshal(raw, &cfg)
	var auths map[string]struct{ Username, Password string }
	_ = json.Unmarshal(cfg["auths"], &auths)
	hosts := make([]string, 0, len(auths))
	for h := range auths {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		fmt.Fprintf(os.Stdout, "    auths[%s]: username %s, password of %d characters\n", h, auths[h].Username, len(auths[h].Password))
	}
	for k := range cfg {
		if k != "auths" {
			fmt.Fprintf(os.Stdout, "    %s: kept\n", k)
		}
	}
}

func statusText(status int, code string) string {
	if code != "" {
		return fmt.Sprintf("%d %s", status, code)
	}
	return fmt.Sprint(status)
}

func step(format string, args ...any) { fmt.Fprintf(os.Stdout, "==> "+format+"\n", args...) }

// prefixed marks the function's own output lines.
func prefixed(prefix string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 0, 64*1024)
		tmp := make([]byte, 4096)
		for {
			n, err := pr.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				fmt.Fprintln(os.Stdout, prefix+strings.TrimRight(string(buf[:i]), "\r"))
				buf = buf[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	return pw
}
