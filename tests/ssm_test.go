package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// The Tencent Cloud SSM store end to end: the function's only Tencent
// credentials are the TENCENTCLOUD_* variables.

const (
	ssmRegion = "ap-guangzhou"
	tcrHost   = "ccr.ccs.tencentyun.com"
)

var tcKey = emulator.TencentCredential{SecretID: "AKIDe2eSSMKey", SecretKey: "e2e-tencent-secret-key-value"}

func ssmRef(name, version string) string {
	return fmt.Sprintf(`{"store":"ssm","region":%q,"secretName":%q,"versionId":%q}`, ssmRegion, name, version)
}

// ssmEnv is the function's environment for SSM, signing with c.
func (w *world) ssmEnv(c emulator.TencentCredential) []string {
	return []string{"ROTATOR_SSM_ENDPOINT=" + w.emu.URL(), "TENCENTCLOUD_SECRET_ID=" + c.SecretID, "TENCENTCLOUD_SECRET_KEY=" + c.SecretKey}
}

// ssmSecret stores a version holding a docker config with another
// registry's login and a top-level key, and returns its value.
func (w *world) ssmSecret(name, version string) string {
	w.t.Helper()
	w.emu.AddTencentCredential(tcKey)
	l := login("100012345678", "tcr-kept-password")
	w.guard.Add(l.Password, l.Auth)
	b, _ := json.Marshal(map[string]any{"auths": map[string]auth{tcrHost: l}, "credsStore": "desktop"})
	if err := w.emu.CreateSSMSecret(ssmRegion, name, version, string(b), false); err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// ssmConfig decodes a stored SSM version.
func (w *world) ssmConfig(name, version string) (auths map[string]auth, top map[string]json.RawMessage) {
	w.t.Helper()
	v, ok := w.emu.SSMSecret(ssmRegion, name, version)
	if !ok {
		w.t.Fatalf("ssm secret %s version %s is gone", name, version)
	}
	if json.Unmarshal([]byte(v), &top) != nil || json.Unmarshal(top["auths"], &auths) != nil {
		w.t.Fatalf("ssm secret %s version %s does not hold a docker config", name, version)
	}
	return auths, top
}

func (w *world) ssmCalls(action string) []emulator.Call {
	var out []emulator.Call
	for _, c := range w.emu.Calls() {
		if c.Product == "ssm" && c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

func resultOfStore(rep rotation.Report, store string) (rotation.Result, bool) {
	return firstResult(rep, func(r rotation.Result) bool { return r.Where.Store == store })
}

// One invocation rotates an SAE secret and an SSM secret with one token:
// the SSM version holds it for every domain, keeps its other login and
// top-level key, and the report and the log name the store, the region,
// the secret and the version written.
func TestSSMRotatesWithSAE(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.secret(nsProd, "acr-pull", map[string]auth{"docker.io": login("team", "hub-password")}, nil)
	w.ssmSecret("acr-pull", "current")
	if err := w.emu.CreateSSMSecret(ssmRegion, "acr-pull", "previous", `{"auths":{}}`, false); err != nil {
		t.Fatal(err)
	}
	f := w.start(config(target("pull", byID(nsProd, id), ssmRef("acr-pull", "current"))), w.ssmEnv(tcKey)...)

	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 2 || rep.Failed != 0 {
		w.guard.Fatalf("report: failed=%v rotated=%d failed=%d results=%+v", failed, rep.Rotated, rep.Failed, rep.Results)
	}
	tok := w.onlyToken()
	w.holdsToken(nsProd, id, tok, publicHost, vpcHost)
	auths, top := w.ssmConfig("acr-pull", "current")
	for _, h := range []string{publicHost, vpcHost} {
		if auths[h] != login(tok.Username, tok.Password) {
			t.Errorf("the ssm secret's entry for %s does not hold the minted token", h)
		}
	}
	if auths[tcrHost] != login("100012345678", "tcr-kept-password") || string(top["credsStore"]) != `"desktop"` {
		t.Errorf("the merge lost the ssm secret's other login or its top-level key")
	}
	if v, _ := w.emu.SSMSecret(ssmRegion, "acr-pull", "previous"); v != `{"auths":{}}` {
		t.Errorf("another version of the ssm secret changed")
	}

	r, ok := resultOfStore(rep, "ssm")
	if !ok || r.Status != rotation.StatusRotated || r.Where.Region != ssmRegion || nameOf(r) != "acr-pull" || r.VersionID != "current" ||
		nsOf(r) != "" || r.RelateApps != nil {
		t.Errorf("ssm result: %+v", r)
	}
	if r, _ := resultOfStore(rep, "sae"); r.Status != rotation.StatusRotated || r.VersionID != "" {
		t.Errorf("sae result: %+v", r)
	}
	updates, gets := w.ssmCalls("UpdateSecret"), w.ssmCalls("GetSecretValue")
	if len(updates) != 1 || len(gets) != 2 {
		t.Errorf("%d UpdateSecret and %d GetSecretValue calls, want a read, a write and its read-back", len(updates), len(gets))
	}
	for _, c := range append(updates, gets...) {
		if c.AccessKeyID != tcKey.SecretID || c.Status != 200 || c.Query.Get("VersionId") != "current" || c.Query.Get("Region") != ssmRegion {
			t.Errorf("ssm %s: signed by %q, version %q in %q, answered %d %s", c.Action, c.AccessKeyID, c.Query.Get("VersionId"), c.Query.Get("Region"), c.Status, c.Code)
		}
	}
	if calls := w.emu.Calls(); calls[len(calls)-1].Product == "ssm" && calls[len(calls)-1].Action == "UpdateSecret" {
		t.Error("the ssm write was not read back")
	}
	found := false
	for _, l := range logLines(f.stderr.Bytes()) {
		if l["msg"] == "secret rotated" && l["store"] == "ssm" {
			found = l["region"] == ssmRegion && l["secretName"] == "acr-pull" && l["versionId"] == "current"
		}
	}
	if !found {
		t.Error("no `secret rotated` log line names the ssm store, region, secret and version")
	}
}

// A plan reads the SSM version and writes nothing.
func TestSSMPlanWritesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.ssmSecret("acr-pull", "current")
	rep, exit := w.cli(config(target("pull", ssmRef("acr-pull", "current"))), `{"action":"plan"}`, w.ssmEnv(tcKey)...)
	r, _ := resultOfStore(rep, "ssm")
	if exit != 0 || rep.Planned != 1 || r.Status != rotation.StatusPlanned || r.VersionID != "" || nameOf(r) != "acr-pull" {
		w.guard.Fatalf("plan: exit %d, report %+v", exit, rep)
	}
	if v, _ := w.emu.SSMSecret(ssmRegion, "acr-pull", "current"); v != before {
		t.Error("a plan changed the ssm secret")
	}
	if n := len(w.ssmCalls("UpdateSecret")); n != 0 || len(w.emu.Tokens()) != 0 {
		t.Errorf("a plan made %d UpdateSecret calls and minted %d tokens", n, len(w.emu.Tokens()))
	}
}

// Missing Tencent keys, a plain-http endpoint elsewhere or a missing field
// refuse the configuration: InvalidConfig, nothing read or written.
func TestSSMInvalidConfig(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ssmSecret("acr-pull", "current")
	good := config(target("pull", ssmRef("acr-pull", "current")))
	for _, tc := range []struct {
		name, cfg string
		env       []string
		want      string
	}{
		{"no key", good, []string{"ROTATOR_SSM_ENDPOINT=" + w.emu.URL(), "TENCENTCLOUD_SECRET_ID=" + tcKey.SecretID}, "TENCENTCLOUD_SECRET_KEY"},
		{"no id", good, []string{"ROTATOR_SSM_ENDPOINT=" + w.emu.URL(), "TENCENTCLOUD_SECRET_KEY=" + tcKey.SecretKey}, "TENCENTCLOUD_SECRET_ID"},
		{"plain http", good, append(w.ssmEnv(tcKey), "ROTATOR_SSM_ENDPOINT=http://ssm.tencentcloudapi.com"), "loopback"},
		{"no versionId", config(target("pull", `{"store":"ssm","region":"ap-guangzhou","secretName":"acr-pull"}`)), w.ssmEnv(tcKey), "versionId is required"},
		{"unknown field", config(target("pull", `{"store":"ssm","region":"ap-guangzhou","secretName":"acr-pull","versionId":"v","stage":"x"}`)), w.ssmEnv(tcKey), "stage"},
	} {
		rep, exit := w.cli(tc.cfg, `{"action":"rotate"}`, tc.env...)
		if exit != 2 || rep.Error == nil || rep.Error.Code != rotation.InvalidConfig || !strings.Contains(rep.Error.Message, tc.want) {
			w.guard.Errorf("%s: exit %d, error %+v; want exit 2, InvalidConfig naming %q", tc.name, exit, rep.Error, tc.want)
		}
	}
	if n := len(w.emu.Calls()); n != 0 {
		t.Errorf("a refused configuration made %d API calls", n)
	}
}

// Faults and refusals of SSM: retried when worth it, a code in the report
// otherwise, and the SAE secret of the same target rotates either way.
func TestSSMFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		seed    func(w *world)
		ref     string
		key     emulator.TencentCredential
		fault   string
		f       emulator.Fault
		code    rotation.Code // "" rotates
		changed bool          // the ssm value was written
		text    string
	}{
		{name: "throttled twice", ref: ssmRef("acr-pull", "current"), key: tcKey, fault: "ssm:UpdateSecret", f: emulator.Fault{Throttle: 2}, changed: true},
		{name: "internal error twice", ref: ssmRef("acr-pull", "current"), key: tcKey, fault: "ssm", f: emulator.Fault{Fail: 2}, changed: true},
		{name: "gateway 502 once", ref: ssmRef("acr-pull", "current"), key: tcKey, fault: "ssm:GetSecretValue", f: emulator.Fault{Fail: 1, FailStatus: 502}, changed: true},
		{name: "missing version", ref: ssmRef("acr-pull", "v9"), key: tcKey, code: rotation.SecretNotFound, text: `version "v9"`},
		{name: "missing secret", ref: ssmRef("nope", "current"), key: tcKey, code: rotation.SecretNotFound, text: "ResourceNotFound"},
		{name: "binary", seed: func(w *world) { _ = w.emu.CreateSSMSecret(ssmRegion, "bin", "current", "binary-secret-bytes", true) },
			ref: ssmRef("bin", "current"), key: tcKey, code: rotation.UnsupportedSecretType, text: "SecretBinary"},
		{name: "not JSON", seed: func(w *world) { _ = w.emu.CreateSSMSecret(ssmRegion, "text", "current", "plain-text-password", false) },
			ref: ssmRef("text", "current"), key: tcKey, code: rotation.CorruptSecretData, text: "not JSON"},
		{name: "wrong key", ref: ssmRef("acr-pull", "current"), key: emulator.TencentCredential{SecretID: tcKey.SecretID, SecretKey: "e2e-wrong-tencent-key"},
			code: rotation.UpdateFailed, text: "AuthFailure.SignatureFailure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.guard.Add(tc.key.SecretKey, "binary-secret-bytes", "plain-text-password")
			id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
			before := w.ssmSecret("acr-pull", "current")
			if tc.seed != nil {
				tc.seed(w)
			}
			w.emu.SetFault(tc.fault, tc.f)
			f := w.start(config(target("pull", byID(nsProd, id), tc.ref)), w.ssmEnv(tc.key)...)
			rep, _ := f.invoke(timerEvent(""), time.Minute)
			if r, _ := resultOfStore(rep, "sae"); r.Status != rotation.StatusRotated {
				w.guard.Errorf("the sae secret: %+v", r)
			}
			r, _ := resultOfStore(rep, "ssm")
			switch {
			case tc.code == "" && r.Status != rotation.StatusRotated:
				w.guard.Errorf("ssm: %+v, want rotated", r)
			case tc.code != "" && (r.Error == nil || r.Error.Code != tc.code || !strings.Contains(r.Error.Message, tc.text)):
				w.guard.Errorf("ssm: %+v, want %s saying %q", r, tc.code, tc.text)
			}
			if v, _ := w.emu.SSMSecret(ssmRegion, "acr-pull", "current"); (v != before) != tc.changed {
				t.Errorf("the ssm value changed: %v, want %v", v != before, tc.changed)
			}
			if tc.code != "" && len(w.ssmCalls("GetSecretValue")) != 1 {
				t.Errorf("%d GetSecretValue calls: a failure that is no throttle nor 5xx is not retried", len(w.ssmCalls("GetSecretValue")))
			}
		})
	}
}
