package sae_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/rotation"
)

const ns = "cn-hangzhou:prod"

var key = emulator.Credential{AccessKeyID: "STS.saeTest", AccessKeySecret: "sae-test-secret", SecurityToken: "sae-test-token"}

func creds() rotation.Credentials {
	return rotation.Credentials{AccessKeyID: key.AccessKeyID, AccessKeySecret: key.AccessKeySecret, SecurityToken: key.SecurityToken}
}

// open starts an emulator and opens the store at it, as the function does.
func open(t *testing.T) (*emulator.Server, rotation.Store) {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{key}, Quota: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	st, err := sae.Kind{}.Open(rotation.Env{APITimeout: 5 * time.Second, Quota: rotation.Quota{Calls: 60},
		Getenv: func(k string) string {
			if k == sae.EnvEndpoint {
				return emu.URL()
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	return emu, st
}

const doc = `{"auths":{"docker.io":{"username":"team","password":"foreign-password"}}}`

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Find picks a secret out of one ListSecrets by id or by name, checks its
// type and unwraps .dockerconfigjson; its other keys are kept aside.
func TestFind(t *testing.T) {
	emu, st := open(t)
	good, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc), "notes": "kept"}, RelateApps: []emulator.App{{AppID: "a1", AppName: "api"}}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "opaque", Type: "Opaque", Data: map[string]string{"k": "v"}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "corrupt", Type: sae.DockerConfigType, Data: map[string]string{sae.DockerConfigKey: "%%%"}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "twice", Type: sae.DockerConfigType, Data: map[string]string{sae.DockerConfigKey: b64(doc)}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "twice", Type: sae.DockerConfigType, Data: map[string]string{sae.DockerConfigKey: b64(doc)}})

	snap, err := st.Read(context.Background(), creds(), &sae.Ref{NamespaceID: ns, SecretID: good})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ref  sae.Ref
		code rotation.Code
	}{
		{"by id", sae.Ref{NamespaceID: ns, SecretID: good}, ""},
		{"by name", sae.Ref{NamespaceID: ns, SecretName: "good"}, ""},
		{"wrong type", sae.Ref{NamespaceID: ns, SecretName: "opaque"}, rotation.UnsupportedSecretType},
		{"not base64", sae.Ref{NamespaceID: ns, SecretName: "corrupt"}, rotation.CorruptSecretData},
		{"two of that name", sae.Ref{NamespaceID: ns, SecretName: "twice"}, rotation.SecretNotFound},
		{"no such id", sae.Ref{NamespaceID: ns, SecretID: 999}, rotation.SecretNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := snap.Find(&tc.ref)
			if rotation.CodeOf(err) != tc.code {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if tc.code != "" {
				return
			}
			if sec.Where.SecretID != good || sec.Where.SecretName != "good" || sec.Where.Region != "cn-hangzhou" || string(sec.Config) != doc {
				t.Errorf("found %+v, config as stored: %v", sec.Where, string(sec.Config) == doc)
			}
			if sec.Rest["notes"] != "kept" || len(sec.Rest) != 1 || len(sec.Consumers) != 1 {
				t.Errorf("rest %v, consumers %v", sec.Rest, sec.Consumers)
			}
		})
	}
}

// Write sends every key in SAE's wrapped form, the docker config base64
// again; ReadBack reads it with DescribeSecret.
func TestWriteAndReadBack(t *testing.T) {
	emu, st := open(t)
	id, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc), "notes": "kept"}})
	ctx := context.Background()
	snap, err := st.Read(ctx, creds(), &sae.Ref{NamespaceID: ns, SecretID: id})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := snap.Find(&sae.Ref{NamespaceID: ns, SecretID: id})
	if err != nil {
		t.Fatal(err)
	}
	merged := `{"auths":{"docker.io":{"username":"team","password":"foreign-password"},"r.io":{"username":"u","password":"p","auth":"dTpw"}}}`
	if v, err := st.Write(ctx, creds(), sec, []byte(merged)); err != nil || v != "" {
		t.Fatalf("write: version %q, %v", v, err)
	}
	var sent map[string]string
	for _, c := range emu.Calls() {
		if c.Action == "UpdateSecret" {
			var outer map[string]string
			if json.Unmarshal([]byte(c.Query.Get("SecretData")), &outer) != nil || json.Unmarshal([]byte(outer["SecretData"]), &sent) != nil {
				t.Fatal("UpdateSecret did not send the wrapped form {\"SecretData\":\"<JSON object>\"}")
			}
		}
	}
	if sent["notes"] != "kept" || sent[sae.DockerConfigKey] != b64(merged) || len(sent) != 2 {
		t.Errorf("UpdateSecret sent keys %d, notes %q, config as merged: %v", len(sent), sent["notes"], sent[sae.DockerConfigKey] == b64(merged))
	}
	got, err := st.ReadBack(ctx, creds(), sec, "")
	if err != nil || string(got.Config) != merged || got.Rest["notes"] != "kept" {
		t.Errorf("read back: %v, config as written: %v, rest %v", err, string(got.Config) == merged, got.Rest)
	}
	var actions []string
	for _, c := range emu.Calls() {
		actions = append(actions, c.Action)
	}
	if strings.Join(actions, " ") != "ListSecrets UpdateSecret DescribeSecret" {
		t.Errorf("calls %v", actions)
	}
}

// SAE's not-found answers carry the report's code; throttling and 5xx are
// what the engine retries.
func TestErrors(t *testing.T) {
	emu, st := open(t)
	ctx := context.Background()
	if _, err := st.Read(ctx, creds(), &sae.Ref{NamespaceID: "cn-hangzhou:nowhere", SecretID: 1}); rotation.CodeOf(err) != rotation.SecretNotFound {
		t.Errorf("unknown namespace: %v", err)
	}
	emu.AddNamespace(ns)
	for _, tc := range []struct {
		fault     emulator.Fault
		throttled bool
		transient bool
	}{{emulator.Fault{Throttle: 1}, true, false}, {emulator.Fault{Fail: 1, FailStatus: 503}, false, true}} {
		emu.SetFault("ListSecrets", tc.fault)
		_, err := st.Read(ctx, creds(), &sae.Ref{NamespaceID: ns, SecretID: 1})
		ae, ok := err.(rotation.APIError)
		if !ok || ae.Throttled() != tc.throttled || ae.Transient() != tc.transient {
			t.Errorf("fault %+v: %v", tc.fault, err)
		}
	}
}
