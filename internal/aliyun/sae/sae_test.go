package sae_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

const ns = "cn-hangzhou:prod"

var key = emulator.Credential{AccessKeyID: "STS.saeTest", AccessKeySecret: "sae-test-secret", SecurityToken: "sae-test-token"}

func creds() port.Credentials {
	return port.Credentials{AccessKeyID: key.AccessKeyID, AccessKeySecret: key.AccessKeySecret, SecurityToken: key.SecurityToken}
}

// open starts an emulator and opens the store at it, as the function does.
func open(t *testing.T) (*emulator.Server, port.Store) {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{key}, Quota: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	return emu, openAt(t, emu)
}

// openAt opens a store, with a memory of its own, at an emulator.
func openAt(t *testing.T, emu *emulator.Server) port.Store {
	t.Helper()
	st, err := sae.Kind{}.Open(port.Env{APITimeout: 5 * time.Second, Quota: port.Quota{Calls: 60},
		Getenv: func(k string) string {
			if k == sae.EnvEndpoint {
				return emu.URL()
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const doc = `{"auths":{"docker.io":{"username":"team","password":"foreign-password"}}}`

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// read reads a secret as the engine does: ReadAlone's ref, or the
// namespace's ListSecrets and then, where Find answers Resolved, a
// DescribeSecret of the secret alone.
func read(t *testing.T, st port.Store, ref port.SecretRef) (port.Secret, error) {
	t.Helper()
	ctx := context.Background()
	if alone, ok := st.(port.Resolver).ReadAlone(ref); ok {
		ref = alone
	}
	for range 2 {
		snap, err := st.Read(ctx, creds(), ref)
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
	t.Fatal("a read of the secret alone answered Resolved")
	return port.Secret{}, nil
}

// keys are a secret's keys, sorted: failure output names them, never their values.
func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func actions(emu *emulator.Server) string {
	var out []string
	for _, c := range emu.Calls() {
		out = append(out, c.Action)
	}
	emu.ResetCalls()
	return strings.Join(out, " ")
}

// A secret by id is read with DescribeSecret alone; by name, ListSecrets
// resolves it (exactly one must match), then DescribeSecret reads it. The
// type is checked, .dockerconfigjson unwrapped, the other keys kept aside.
func TestFind(t *testing.T) {
	emu, _ := open(t)
	good, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc), "notes": "kept"}, RelateApps: []emulator.App{{AppID: "a1", AppName: "api"}}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "opaque", Type: "Opaque", Data: map[string]string{"k": "v"}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "corrupt", Type: sae.DockerConfigType, Data: map[string]string{sae.DockerConfigKey: "%%%"}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "twice", Type: sae.DockerConfigType, Data: map[string]string{sae.DockerConfigKey: b64(doc)}})
	_, _ = emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "twice", Type: sae.DockerConfigType, Data: map[string]string{sae.DockerConfigKey: b64(doc)}})

	for _, tc := range []struct {
		name  string
		ref   sae.Ref
		code  port.Code
		calls string
		msg   string // what the error says, where the case fixes it
	}{
		{"by id", sae.Ref{NamespaceID: ns, SecretID: good}, "", "DescribeSecret", ""},
		{"by name", sae.Ref{NamespaceID: ns, SecretName: "good"}, "", "ListSecrets DescribeSecret", ""},
		{"wrong type, from the listing", sae.Ref{NamespaceID: ns, SecretName: "opaque"}, port.UnsupportedSecretType, "ListSecrets", ""},
		{"not base64", sae.Ref{NamespaceID: ns, SecretName: "corrupt"}, port.CorruptSecretData, "ListSecrets DescribeSecret", ""},
		{"two of that name", sae.Ref{NamespaceID: ns, SecretName: "twice"}, port.SecretNotFound, "ListSecrets", ""},
		{"no such name", sae.Ref{NamespaceID: ns, SecretName: "none"}, port.SecretNotFound, "ListSecrets",
			`SecretNotFound: sae secret "none" in namespace cn-hangzhou:prod does not exist`},
		{"no such id", sae.Ref{NamespaceID: ns, SecretID: 999}, port.SecretNotFound, "DescribeSecret",
			"SecretNotFound: secret 999 does not exist in namespace cn-hangzhou:prod (DescribeSecret: InvalidSecretId.NotFound)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu.ResetCalls()
			sec, err := read(t, openAt(t, emu), &tc.ref)
			if port.CodeOf(err) != tc.code {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
			if got := actions(emu); got != tc.calls {
				t.Errorf("calls %q, want %q", got, tc.calls)
			}
			if tc.code != "" {
				return
			}
			if secretID(sec) != good || secretName(sec) != "good" || sec.Where.Region != "cn-hangzhou" || string(sec.Config) != doc {
				t.Errorf("found %+v, config as stored: %v", sec.Where, string(sec.Config) == doc)
			}
			if sec.Rest["notes"] != "kept" || len(sec.Rest) != 1 || len(sec.Consumers) != 1 || sec.ID != ns+"/1" {
				t.Errorf("rest keys %q (notes kept: %v), %d consumers, id %q", keys(sec.Rest), sec.Rest["notes"] == "kept", len(sec.Consumers), sec.ID)
			}
		})
	}
}

// A DescribeSecret answer without a value is corrupt, never an empty
// config: SecretData absent or null, no .dockerconfigjson key, a value that
// is not a string. A present empty .dockerconfigjson is {}.
func TestAbsentValueIsCorrupt(t *testing.T) {
	emu, st := open(t)
	id, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc), "notes": "kept"}})
	data := func(edit func(d map[string]any)) func(map[string]any) {
		return func(ans map[string]any) { edit(ans["Data"].(map[string]any)) }
	}
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		code port.Code
		want string
	}{
		{"no SecretData member", data(func(d map[string]any) { delete(d, "SecretData") }), port.CorruptSecretData, "carries no SecretData"},
		{"SecretData null", data(func(d map[string]any) { d["SecretData"] = nil }), port.CorruptSecretData, "carries no SecretData"},
		{"no .dockerconfigjson key", data(func(d map[string]any) { d["SecretData"] = map[string]any{"notes": "kept"} }), port.CorruptSecretData, "no .dockerconfigjson key"},
		{".dockerconfigjson null", data(func(d map[string]any) { d["SecretData"] = map[string]any{sae.DockerConfigKey: nil} }), port.CorruptSecretData, "not a string"},
		{"a value not a string", data(func(d map[string]any) { d["SecretData"].(map[string]any)["notes"] = 7 }), port.CorruptSecretData, "not a string"},
		{"no Data", func(ans map[string]any) { delete(ans, "Data") }, port.CorruptSecretData, "carries no Data"},
		{"empty .dockerconfigjson", data(func(d map[string]any) { d["SecretData"] = map[string]any{sae.DockerConfigKey: ""} }), "", ""},
		// The identity is never taken for 0: no write could go to it.
		{"no SecretId member", data(func(d map[string]any) { delete(d, "SecretId") }), port.UpdateFailed, "does not name it (SecretId 0)"},
		{"another SecretId", data(func(d map[string]any) { d["SecretId"] = id + 1 }), port.UpdateFailed, "does not name it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu.SetAnswerEdit("sae", "DescribeSecret", tc.edit)
			defer emu.SetAnswerEdit("sae", "DescribeSecret", nil)
			sec, err := read(t, st, &sae.Ref{NamespaceID: ns, SecretID: id})
			if port.CodeOf(err) != tc.code || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want code %q saying %q", err, tc.code, tc.want)
			}
			if tc.code == "" && string(sec.Config) != "{}" {
				t.Errorf("an empty .dockerconfigjson reads as %d bytes, want {}", len(sec.Config))
			}
			if secretID(sec) != id {
				t.Errorf("the failure names secret %d, want %d", secretID(sec), id)
			}
		})
	}
}

// Where ListSecrets carries SecretData (an older API version), it is the
// read: one call reads the namespace, and the namespace's secrets by id are
// read with it from then on; a listing without a secret's value makes
// DescribeSecret read it after all.
func TestListSecretsCarryingData(t *testing.T) {
	emu, st := open(t)
	emu.SetListSecretsData(true)
	id, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc), "notes": "kept"}})
	byName, byID := &sae.Ref{NamespaceID: ns, SecretName: "good"}, &sae.Ref{NamespaceID: ns, SecretID: id}
	if _, ok := st.(port.Resolver).ReadAlone(byID); !ok {
		t.Fatal("a secret by id is read alone until a listing is seen to carry values")
	}
	sec, err := read(t, st, byName)
	if err != nil || string(sec.Config) != doc || sec.Rest["notes"] != "kept" {
		t.Fatalf("read: %v, config as stored: %v", err, string(sec.Config) == doc)
	}
	if got := actions(emu); got != "ListSecrets" {
		t.Errorf("calls %q, want ListSecrets alone", got)
	}
	for _, ref := range []*sae.Ref{byID, byName} {
		if _, ok := st.(port.Resolver).ReadAlone(ref); ok {
			t.Errorf("%+v: read alone although the namespace's listing carries values", *ref)
		}
	}
	// A listing whose entry lacks the value is no read of it.
	emu.SetAnswerEdit("sae", "ListSecrets", func(ans map[string]any) {
		for _, s := range ans["Data"].(map[string]any)["Secrets"].([]any) {
			delete(s.(map[string]any), "SecretData")
		}
	})
	if sec, err := read(t, st, byID); err != nil || string(sec.Config) != doc {
		t.Fatalf("read: %v", err)
	}
	if got := actions(emu); got != "ListSecrets DescribeSecret" {
		t.Errorf("calls %q, want ListSecrets DescribeSecret", got)
	}
	if _, ok := st.(port.Resolver).ReadAlone(byID); !ok {
		t.Error("a listing without values must end the batched path")
	}
}

// A name resolved once is read alone by the process while DescribeSecret
// confirms the name; an answer with another name, or none (the id is gone),
// is ErrMoved and forgets the resolution.
func TestResolvedNameReused(t *testing.T) {
	emu, st := open(t)
	id, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc)}})
	ref := &sae.Ref{NamespaceID: ns, SecretName: "good"}
	if _, err := read(t, st, ref); err != nil {
		t.Fatal(err)
	}
	if got := actions(emu); got != "ListSecrets DescribeSecret" {
		t.Errorf("first read: calls %q", got)
	}
	if _, err := read(t, st, ref); err != nil {
		t.Fatal(err)
	}
	if got := actions(emu); got != "DescribeSecret" {
		t.Errorf("second read: calls %q, want DescribeSecret alone", got)
	}
	moved := func(why string) {
		t.Helper()
		alone := aloneRef(t, st, ref)
		snap, err := st.Read(context.Background(), creds(), alone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := snap.Find(alone); !errors.Is(err, port.ErrMoved) {
			t.Errorf("%s: %v, want ErrMoved", why, err)
		}
		if _, ok := st.(port.Resolver).ReadAlone(ref); ok {
			t.Errorf("%s: the resolution was kept", why)
		}
	}
	emu.SetAnswerEdit("sae", "DescribeSecret", func(ans map[string]any) { ans["Data"].(map[string]any)["SecretName"] = "renamed" })
	moved("DescribeSecret answers another name")
	emu.SetAnswerEdit("sae", "DescribeSecret", nil)

	if _, err := read(t, st, ref); err != nil { // resolved again
		t.Fatal(err)
	}
	if err := emu.DeleteSecret(ns, id); err != nil {
		t.Fatal(err)
	}
	moved("the id no longer exists")
	if _, err := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc)}}); err != nil {
		t.Fatal(err)
	}
	emu.ResetCalls()
	if sec, err := read(t, st, ref); err != nil || secretID(sec) == id {
		t.Fatalf("the name, given to a new secret: %v, id %d (the old one was %d)", err, secretID(sec), id)
	}
	if got := actions(emu); got != "ListSecrets DescribeSecret" {
		t.Errorf("calls %q", got)
	}
}

// aloneRef is ReadAlone's ref for r.
func aloneRef(t *testing.T, st port.Store, r *sae.Ref) port.SecretRef {
	t.Helper()
	ref, ok := st.(port.Resolver).ReadAlone(r)
	if !ok {
		t.Fatalf("%+v is not read alone", *r)
	}
	return ref
}

// Write sends every key in SAE's wrapped form, the docker config base64
// again; ReadBack reads it with DescribeSecret.
func TestWriteAndReadBack(t *testing.T) {
	emu, st := open(t)
	id, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc), "notes": "kept"}})
	ctx := context.Background()
	sec, err := read(t, st, &sae.Ref{NamespaceID: ns, SecretID: id})
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
		t.Errorf("UpdateSecret sent keys %q, notes kept: %v, config as merged: %v", keys(sent), sent["notes"] == "kept", sent[sae.DockerConfigKey] == b64(merged))
	}
	got, err := st.ReadBack(ctx, creds(), sec, "")
	if err != nil || string(got.Config) != merged || got.Rest["notes"] != "kept" {
		t.Errorf("read back: %v, config as written: %v, rest keys %q (notes kept: %v)", err, string(got.Config) == merged, keys(got.Rest), got.Rest["notes"] == "kept")
	}
	var actions []string
	for _, c := range emu.Calls() {
		actions = append(actions, c.Action)
	}
	if strings.Join(actions, " ") != "DescribeSecret UpdateSecret DescribeSecret" {
		t.Errorf("calls %v", actions)
	}
}

// SAE's not-found answers carry the report's code; throttling and 5xx are
// what the engine retries.
func TestErrors(t *testing.T) {
	emu, st := open(t)
	ctx := context.Background()
	if _, err := st.Read(ctx, creds(), &sae.Ref{NamespaceID: "cn-hangzhou:nowhere", SecretID: 1}); port.CodeOf(err) != port.SecretNotFound {
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
		ae, ok := err.(port.APIError)
		if !ok || ae.Throttled() != tc.throttled || ae.Transient() != tc.transient {
			t.Errorf("fault %+v: %v", tc.fault, err)
		}
	}
}

// secretID is the secretId a secret's Where shows (0: none).
func secretID(sec port.Secret) int64 {
	v, _ := sec.Where.Lookup("secretId")
	id, _ := v.(int64)
	return id
}

// secretName is the secretName a secret's Where shows ("": none).
func secretName(sec port.Secret) string {
	v, _ := sec.Where.Lookup("secretName")
	s, _ := v.(string)
	return s
}

// An SAE secret is named by its namespace, id and name in the report and
// the logs, and in messages by its id once known.
func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		ref        *sae.Ref
		json, text string
	}{
		{&sae.Ref{NamespaceID: "cn-hangzhou:prod", SecretID: 16}, `{"store":"sae","region":"cn-hangzhou","namespaceId":"cn-hangzhou:prod","secretId":16}`,
			"sae secret 16 in namespace cn-hangzhou:prod"},
		{&sae.Ref{NamespaceID: "cn-hangzhou", SecretName: "acr-pull"}, `{"store":"sae","region":"cn-hangzhou","namespaceId":"cn-hangzhou","secretName":"acr-pull"}`,
			`sae secret "acr-pull" in namespace cn-hangzhou`},
	} {
		b, err := json.Marshal(tc.ref.Where())
		if err != nil || string(b) != tc.json {
			t.Errorf("%+v: JSON %s (%v), want %s", tc.ref, b, err, tc.json)
		}
		if got := tc.ref.Describe(); got != tc.text {
			t.Errorf("%+v: described as %q, want %q", tc.ref, got, tc.text)
		}
	}
}

// A listing that names a secret without its SecretId resolves it to
// nothing: the name is never taken for secret 0.
func TestListingWithoutSecretID(t *testing.T) {
	emu, st := open(t)
	if _, err := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "by-name", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc)}}); err != nil {
		t.Fatal(err)
	}
	emu.SetAnswerEdit("sae", "ListSecrets", func(ans map[string]any) {
		for _, s := range ans["Data"].(map[string]any)["Secrets"].([]any) {
			delete(s.(map[string]any), "SecretId")
		}
	})
	_, err := read(t, st, &sae.Ref{NamespaceID: ns, SecretName: "by-name"})
	if port.CodeOf(err) != port.UpdateFailed || !strings.Contains(err.Error(), `names sae secret "by-name" in namespace cn-hangzhou:prod without its SecretId`) {
		t.Fatalf("error %v, want UpdateFailed saying the listing gave no SecretId", err)
	}
	for _, c := range emu.Calls() {
		if c.Action == "DescribeSecret" || c.Action == "UpdateSecret" {
			t.Errorf("%s called for a secret the listing named without an id", c.Action)
		}
	}
}
