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

// Huawei Cloud CSMS beside SAE: one token, two clouds.

const (
	csmsRegion  = "cn-north-4"
	csmsProject = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
)

var huaweiKey = emulator.HuaweiCredential{AK: "HWE2ETESTACCESSKEY", SK: "e2e-huawei-sk-not-real"}

// huaweiEnv is the environment that points the store at the emulator.
func (w *world) huaweiEnv() []string {
	return []string{"ROTATOR_CSMS_ENDPOINT=" + w.emu.URL(), "HUAWEICLOUD_SDK_AK=" + huaweiKey.AK, "HUAWEICLOUD_SDK_SK=" + huaweiKey.SK}
}

func csmsRef(name string) string {
	return fmt.Sprintf(`{"store":"csms","region":%q,"projectId":%q,"secretName":%q}`, csmsRegion, csmsProject, name)
}

// csmsSecret stores a CSMS secret holding a docker config (the JSON itself).
func (w *world) csmsSecret(name string, auths map[string]auth, extra map[string]any) {
	w.t.Helper()
	doc := map[string]any{"auths": auths}
	for k, v := range extra {
		doc[k] = v
	}
	b, _ := json.Marshal(doc)
	for _, a := range auths {
		w.guard.Add(a.Password, a.Auth)
	}
	if err := w.emu.CreateCSMSSecret(csmsProject, name, string(b), false); err != nil {
		w.t.Fatal(err)
	}
}

// csmsConfig decodes a CSMS secret's latest value.
func (w *world) csmsConfig(name string) (auths map[string]auth, top map[string]json.RawMessage, version string) {
	w.t.Helper()
	value, version, ok := w.emu.CSMSSecret(csmsProject, name)
	if !ok {
		w.t.Fatalf("csms secret %s is gone", name)
	}
	if json.Unmarshal([]byte(value), &top) != nil || json.Unmarshal(top["auths"], &auths) != nil {
		w.t.Fatalf("csms secret %s: the value is not a docker config", name)
	}
	return auths, top, version
}

func TestCSMSRotation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	w.emu.AddHuaweiCredential(huaweiKey)
	foreign := login("team", "csms-foreign-password-kept")
	w.csmsSecret("acr-pull", map[string]auth{"docker.io": foreign, publicHost: login("cr_temp_user", "csms-expired-token")},
		map[string]any{"credsStore": "desktop"})
	id := w.secret(nsProd, "acr-pull", nil, nil)
	f := w.start(config(target("prod-pull", byID(nsProd, id), csmsRef("acr-pull"))), w.huaweiEnv()...)

	// A plan reads both stores and writes nothing.
	rep, failed := f.invoke(`{"action":"plan"}`, time.Minute)
	if failed || rep.Planned != 2 || len(w.emu.Tokens()) != 0 || len(w.calls("CreateSecretVersion")) != 0 || w.emu.CSMSVersions(csmsProject, "acr-pull") != 1 {
		w.guard.Fatalf("plan: failed %v, %d planned, %d tokens, %d versions: %+v", failed, rep.Planned, len(w.emu.Tokens()),
			w.emu.CSMSVersions(csmsProject, "acr-pull"), rep.Results)
	}

	rep, failed = f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 2 {
		w.guard.Fatalf("rotation: failed %v, %d rotated: %+v", failed, rep.Rotated, rep.Results)
	}
	tok := w.onlyToken() // one token for both clouds
	w.holdsToken(nsProd, id, tok, publicHost, vpcHost)
	auths, top, version := w.csmsConfig("acr-pull")
	want := login(tok.Username, tok.Password)
	for _, h := range []string{publicHost, vpcHost} {
		if auths[h] != want {
			t.Errorf("csms: the entry for %s does not hold the minted token", h)
		}
	}
	if auths["docker.io"] != foreign || string(top["credsStore"]) != `"desktop"` || len(auths) != 3 {
		t.Errorf("csms: the merge did not keep the other entries (%d logins)", len(auths))
	}
	if version != "v2" {
		t.Errorf("csms: latest version %s, want v2", version)
	}
	var res *rotation.Result
	for i := range rep.Results {
		if rep.Results[i].Where.Store == "csms" {
			res = &rep.Results[i]
		}
	}
	if res == nil || res.Status != rotation.StatusRotated || res.Where.Region != csmsRegion || nameOf(*res) != "acr-pull" ||
		res.VersionID != "v2" || res.RelateApps != nil {
		w.guard.Fatalf("csms result: %+v", res)
	}
	var acts []string
	for _, c := range w.emu.Calls() {
		if c.Product == "csms" {
			if c.AccessKeyID != huaweiKey.AK || c.Status != 200 {
				t.Errorf("csms %s by %s -> %d", c.Action, c.AccessKeyID, c.Status)
			}
			acts = append(acts, c.Action)
		}
	}
	if got := strings.Join(acts, ","); got != "ShowSecretVersion,ShowSecretVersion,CreateSecretVersion,ShowSecretVersion" {
		t.Errorf("csms calls: %s (plan read, read, write, read back)", got)
	}
	var line map[string]any
	for _, l := range logLines(f.stderr.Bytes()) {
		if l["msg"] == "secret rotated" && l["store"] == "csms" {
			line = l
		}
	}
	if line == nil || line["region"] != csmsRegion || line["secretName"] != "acr-pull" || line["versionId"] != "v2" {
		t.Errorf("no log line for the csms secret with its region, name and version: %v", line)
	}
}

// Without the Huawei key (or with a bad endpoint) every invocation is
// refused InvalidConfig, and nothing is read or written.
func TestCSMSConfigRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, drop, add, says string
	}{
		{"no AK", "HUAWEICLOUD_SDK_AK=", "", "HUAWEICLOUD_SDK_AK"},
		{"no SK", "HUAWEICLOUD_SDK_SK=", "", "HUAWEICLOUD_SDK_SK"},
		{"plain http to a remote endpoint", "ROTATOR_CSMS_ENDPOINT=", "ROTATOR_CSMS_ENDPOINT=http://kms.cn-north-4.myhuaweicloud.com", "loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			w.emu.AddHuaweiCredential(huaweiKey)
			w.csmsSecret("acr-pull", map[string]auth{}, nil)
			id := w.secret(nsProd, "acr-pull", nil, nil)
			var env []string
			for _, kv := range w.huaweiEnv() {
				if !strings.HasPrefix(kv, tc.drop) {
					env = append(env, kv)
				}
			}
			if tc.add != "" {
				env = append(env, tc.add)
			}
			f := w.start(config(target("prod-pull", byID(nsProd, id), csmsRef("acr-pull"))), env...)
			for i := 0; i < 2; i++ {
				rep, failed := f.invoke(timerEvent(""), time.Minute)
				if !failed || rep.Error == nil || rep.Error.Code != rotation.InvalidConfig || !strings.Contains(rep.Error.Message, tc.says) {
					w.guard.Fatalf("invocation %d: %+v, want InvalidConfig naming %s", i, rep.Error, tc.says)
				}
			}
			if calls := w.emu.Calls(); len(calls) != 0 {
				t.Errorf("%d API calls made, want none", len(calls))
			}
		})
	}
}

// Faults of CSMS and of its secrets fail the CSMS secret with its code (or
// are retried away), and never stop the SAE secret beside it.
func TestCSMSFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		secret string // "" for a good docker config
		value  string
		binary bool
		key    string // fault key
		fault  emulator.Fault
		sk     string // the SK the function is given, when not the registered one
		code   rotation.Code
	}{
		{name: "throttled, then not", key: "csms", fault: emulator.Fault{Throttle: 3}},
		{name: "500, then not", key: "ShowSecretVersion", fault: emulator.Fault{Fail: 2}},
		{name: "503 that never ends", key: "CreateSecretVersion", fault: emulator.Fault{Fail: 1000, FailStatus: 503}, code: rotation.UpdateFailed},
		{name: "read hangs", key: "ShowSecretVersion", fault: emulator.Fault{Hang: true}, code: rotation.UpdateFailed},
		{name: "write dropped", key: "CreateSecretVersion", fault: emulator.Fault{DropWrites: 1}, code: rotation.VerificationFailed},
		{name: "binary secret", binary: true, value: `{"auths":{}}`, code: rotation.UnsupportedSecretType},
		{name: "not JSON", value: "csms-plain-text-value", code: rotation.CorruptSecretData},
		{name: "missing secret", secret: "nope", code: rotation.SecretNotFound},
		{name: "wrong SK", sk: "e2e-huawei-wrong-sk-value", code: rotation.UpdateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			w.emu.AddHuaweiCredential(huaweiKey)
			if tc.value != "" {
				if err := w.emu.CreateCSMSSecret(csmsProject, "acr-pull", tc.value, tc.binary); err != nil {
					t.Fatal(err)
				}
			} else {
				w.csmsSecret("acr-pull", map[string]auth{"docker.io": login("team", "csms-foreign-password")}, nil)
			}
			name := "acr-pull"
			if tc.secret != "" {
				name = tc.secret
			}
			id := w.secret(nsProd, "acr-pull", nil, nil)
			env := w.huaweiEnv()
			if tc.sk != "" {
				w.guard.Add(tc.sk)
				env = append(env, "HUAWEICLOUD_SDK_SK="+tc.sk)
			}
			w.emu.SetFault(tc.key, tc.fault)
			cfg := strings.Replace(config(target("prod-pull", byID(nsProd, id), csmsRef(name))), `"apiTimeout":"3s"`, `"apiTimeout":"1s"`, 1)
			f := w.start(cfg, env...)
			rep, _ := f.invoke(timerEvent(""), 2*time.Minute)
			if len(rep.Results) != 2 {
				w.guard.Fatalf("results: %+v", rep.Results)
			}
			for _, r := range rep.Results {
				switch {
				case r.Where.Store == "sae" && r.Status != rotation.StatusRotated:
					w.guard.Errorf("the SAE secret was not rotated: %+v", r)
				case r.Where.Store == "csms" && tc.code == "" && r.Status != rotation.StatusRotated:
					w.guard.Errorf("csms: %+v, want rotated", r)
				case r.Where.Store == "csms" && tc.code != "" && (r.Error == nil || r.Error.Code != tc.code):
					w.guard.Errorf("csms: %+v, want failed %s", r, tc.code)
				}
			}
			if tc.code == rotation.UnsupportedSecretType || tc.code == rotation.CorruptSecretData || tc.code == rotation.SecretNotFound {
				if n := len(w.calls("CreateSecretVersion")); n != 0 {
					t.Errorf("%d writes to a secret that failed %s", n, tc.code)
				}
			}
		})
	}
}
