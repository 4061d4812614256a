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

// kmsEnv points the function's KMS client at the emulator.
func (w *world) kmsEnv() string { return "ROTATOR_KMS_ENDPOINT=" + w.emu.URL() }

func kmsRef(name string) string {
	return fmt.Sprintf(`{"store":"kms","regionId":%q,"secretName":%q}`, region, name)
}

// kmsSecret creates a KMS text secret holding a docker config document and
// tells the guard its logins.
func (w *world) kmsSecret(name string, auths map[string]auth, extra map[string]any) string {
	w.t.Helper()
	cfg := map[string]any{"auths": auths}
	for k, v := range extra {
		cfg[k] = v
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, a := range auths {
		w.guard.Add(a.Password, a.Auth)
	}
	w.emu.CreateKMSSecret(region, name, string(b), false)
	return string(b)
}

// kmsConfig decodes the current value of a KMS secret.
func (w *world) kmsConfig(name string) (auths map[string]auth, top map[string]json.RawMessage, version string) {
	w.t.Helper()
	v, ok := w.emu.KMSSecret(region, name)
	if !ok {
		w.t.Fatalf("kms secret %s has no current version", name)
	}
	if err := json.Unmarshal([]byte(v.Data), &top); err != nil {
		w.t.Fatalf("kms secret %s: the value is not a JSON object", name)
	}
	if err := json.Unmarshal(top["auths"], &auths); err != nil {
		w.t.Fatalf("kms secret %s: auths is not an object of logins", name)
	}
	return auths, top, v.ID
}

// One invocation rotates an SAE secret and a KMS secret of one target with
// one token: each holds it for every registry domain and keeps everything
// else it held; the report and the log name the KMS secret's version.
func TestKMSAndSAEFromOneToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	foreign := login("team", "kms-foreign-password")
	saeID := w.secret(nsProd, "acr-pull", map[string]auth{"docker.io": foreign}, map[string]any{"credsStore": "desktop"})
	old := w.kmsSecret("acr-pull", map[string]auth{"docker.io": foreign, publicHost: login("cr_temp_user", "kms-expired-token")},
		map[string]any{"credsStore": "desktop", "HttpHeaders": map[string]string{"User-Agent": "pull/1.0"}})
	f := w.start(config(target("prod-pull", byID(nsProd, saeID), kmsRef("acr-pull"))), w.kmsEnv())

	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 2 || rep.Failed != 0 || len(rep.Results) != 2 {
		w.guard.Fatalf("report: failed=%v rotated=%d failed=%d results=%+v", failed, rep.Rotated, rep.Failed, rep.Results)
	}
	tok := w.onlyToken()
	w.holdsToken(nsProd, saeID, tok, publicHost, vpcHost)
	if auths, top := w.dockerConfig(nsProd, saeID); auths["docker.io"] != foreign || string(top["credsStore"]) != `"desktop"` {
		t.Error("the SAE secret lost its foreign entry or a top-level key")
	}

	auths, top, version := w.kmsConfig("acr-pull")
	want := login(tok.Username, tok.Password)
	for _, h := range []string{publicHost, vpcHost} {
		if auths[h] != want {
			t.Errorf("kms secret: the entry for %s does not hold the minted token", h)
		}
	}
	if auths["docker.io"] != foreign || string(top["credsStore"]) != `"desktop"` || string(top["HttpHeaders"]) != `{"User-Agent":"pull/1.0"}` || len(auths) != 3 {
		t.Errorf("kms secret: %d entries; the foreign entry or a top-level key was not kept", len(auths))
	}
	vs := w.emu.KMSVersions(region, "acr-pull")
	if len(vs) != 2 || vs[0].Data != old || strings.Join(vs[0].Stages, ",") != "ACSPrevious" || vs[1].ID != version {
		t.Errorf("kms versions: %d; the old value is not ACSPrevious, or the new one is not current", len(vs))
	}

	for _, r := range rep.Results {
		switch r.Where.Store {
		case "kms":
			if r.Status != rotation.StatusRotated || r.Where.Region != region || nameOf(r) != "acr-pull" || r.VersionID != version ||
				nsOf(r) != "" || r.RelateApps != nil || strings.Join(r.Registries, ",") != publicHost+","+vpcHost {
				t.Errorf("kms result: %+v; want rotated, %s, acr-pull, versionId %q", r, region, version)
			}
		case "sae":
			if r.Status != rotation.StatusRotated || idOf(r) != saeID {
				t.Errorf("sae result: %+v", r)
			}
		default:
			t.Errorf("result of store %q", r.Where.Store)
		}
	}
	// The write is verified by reading back the version it made.
	var puts, readBacks int
	for _, c := range w.emu.Calls() {
		switch {
		case c.Action == "PutSecretValue":
			puts++
		case c.Action == "GetSecretValue" && c.Query.Get("VersionId") == version:
			readBacks++
		}
		if c.Product == "kms" && (c.AccessKeyID != sts.AccessKeyID || c.Query.Get("RegionId") != region) {
			t.Errorf("%s: signed by %q in region %q", c.Action, c.AccessKeyID, c.Query.Get("RegionId"))
		}
	}
	if puts != 1 || readBacks != 1 {
		t.Errorf("%d PutSecretValue and %d read-backs of the version, want 1 and 1", puts, readBacks)
	}
	found := false
	for _, l := range logLines(f.stderr.Bytes()) {
		if l["msg"] == "secret rotated" && l["store"] == "kms" {
			found = l["region"] == region && l["secretName"] == "acr-pull" && l["versionId"] == version
		}
	}
	if !found {
		t.Error("no 'secret rotated' log line with store kms, region, secretName and versionId")
	}
}

// Planning reads the KMS secret and writes nothing; a throttled
// PutSecretValue is retried and the secret still rotates.
func TestKMSPlanAndThrottledWrite(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.kmsSecret("acr-pull", map[string]auth{}, nil)
	f := w.start(config(target("prod-pull", kmsRef("acr-pull"))), w.kmsEnv())

	rep, failed := f.invoke(`{"action":"plan"}`, time.Minute)
	if failed || rep.Planned != 1 || len(rep.Results) != 1 || rep.Results[0].Status != rotation.StatusPlanned || rep.Results[0].Where.Store != "kms" {
		w.guard.Fatalf("plan: %+v", rep)
	}
	if n := len(w.calls("PutSecretValue")); n != 0 || len(w.emu.KMSVersions(region, "acr-pull")) != 1 || len(w.emu.Tokens()) != 0 {
		t.Fatalf("the plan wrote (%d PutSecretValue calls) or minted a token", n)
	}

	w.emu.SetFault("PutSecretValue", emulator.Fault{Throttle: 2})
	rep, failed = f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 1 {
		w.guard.Fatalf("throttled rotation: %+v", rep)
	}
	var codes []string
	for _, c := range w.calls("PutSecretValue") {
		codes = append(codes, fmt.Sprint(c.Status, c.Code))
	}
	if strings.Join(codes, " ") != "429Rejected.Throttling 429Rejected.Throttling 200" {
		t.Errorf("PutSecretValue answers %v, want two throttles and a success", codes)
	}
	if _, _, version := w.kmsConfig("acr-pull"); version != rep.Results[0].VersionID {
		t.Errorf("current version %q, report says %q", version, rep.Results[0].VersionID)
	}
}

// KMS secrets that cannot be rotated fail with their code, unchanged, while
// the SAE secret of the same target rotates; a server that quotes the
// written value in its error leaves no trace of it in any output.
func TestKMSSecretFailures(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	saeID := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	w.emu.CreateKMSSecret(region, "binary", "AAECAwQFBgcICQ==", true)
	w.emu.CreateKMSSecret(region, "not-json", "cr_temp_user:not-a-docker-config", false)
	w.emu.CreateKMSSecret(region, "array", `[{"auths":{}}]`, false)
	w.kmsSecret("echoed", map[string]auth{}, nil)
	w.emu.SetKMSEcho(true)
	w.emu.SetFault("PutSecretValue", emulator.Fault{Fail: 1, FailStatus: 400})
	f := w.start(config(target("prod-pull", byID(nsProd, saeID), kmsRef("missing"), kmsRef("binary"), kmsRef("not-json"), kmsRef("array"), kmsRef("echoed"))), w.kmsEnv())

	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if !failed || rep.Rotated != 1 || rep.Failed != 5 {
		w.guard.Fatalf("report: failed=%v rotated=%d failed=%d", failed, rep.Rotated, rep.Failed)
	}
	want := map[string]rotation.Code{"missing": rotation.SecretNotFound, "binary": rotation.UnsupportedSecretType,
		"not-json": rotation.CorruptSecretData, "array": rotation.CorruptSecretData, "echoed": rotation.UpdateFailed}
	for _, r := range rep.Results {
		if r.Where.Store != "kms" {
			if r.Status != rotation.StatusRotated {
				t.Errorf("the SAE secret: %s", r.Status)
			}
			continue
		}
		if r.Error == nil || r.Error.Code != want[nameOf(r)] || r.Where.Region != region {
			w.guard.Errorf("kms %s: %+v; want %s", nameOf(r), r.Error, want[nameOf(r)])
		}
	}
	for _, c := range w.calls("PutSecretValue") {
		if c.Query.Get("SecretName") != "echoed" {
			t.Errorf("PutSecretValue of %q: a secret that failed its read was written", c.Query.Get("SecretName"))
		}
	}
	for _, name := range []string{"binary", "not-json", "array", "echoed"} {
		if vs := w.emu.KMSVersions(region, name); len(vs) != 1 || vs[0].ID != "v1" {
			t.Errorf("kms %s: %d versions, want the one it had", name, len(vs))
		}
	}
	if len(w.calls("PutSecretValue")) != 1 {
		t.Errorf("%d PutSecretValue calls, want the one that failed", len(w.calls("PutSecretValue")))
	}
}
