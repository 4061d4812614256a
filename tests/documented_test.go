package tests

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Every store read as its API reference answers (the emulator's default):
// values come from the read of one secret, an answer without a value is
// never taken for an empty one, and a value over a store's limit is never
// sent.

// saeActions lists the SAE calls made, in order.
func (w *world) saeActions() []string {
	var out []string
	for _, c := range w.emu.Calls() {
		if c.Product == "sae" {
			out = append(out, c.Action)
		}
	}
	return out
}

// With the documented answers (ListSecrets carries no SecretData), an SAE
// secret holding three other registries and two other keys rotates in 3
// calls (DescribeSecret, UpdateSecret, DescribeSecret) and keeps all of them.
func TestDocumentedSAEKeepsEverythingInThreeCalls(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	others := map[string]auth{
		"https://index.docker.io/v1/": login("team", "docker-hub-kept-password"),
		"ghcr.io":                     login("bot", "ghcr-kept-token"),
		"registry.example.com:5000":   login("ci", "example-kept-password"),
	}
	auths := map[string]auth{publicHost: login("cr_temp_user", "old-token")}
	for h, a := range others {
		auths[h] = a
	}
	enc := encode(t, auths, map[string]any{"credsStore": "desktop"})
	w.guard.Add(enc)
	for _, a := range auths {
		w.guard.Add(a.Password, a.Auth)
	}
	keys := map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----kept-----END CERTIFICATE-----", "notes": "kept as it was"}
	data := map[string]string{".dockerconfigjson": enc}
	for k, v := range keys {
		data[k] = v
	}
	id := w.rawSecret(nsProd, "acr-pull", dockerType, data)
	f := w.start(config(target("prod-pull", byID(nsProd, id))))

	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 1 {
		w.guard.Fatalf("failed=%v results=%+v", failed, rep.Results)
	}
	if got := w.saeActions(); !reflect.DeepEqual(got, []string{"DescribeSecret", "UpdateSecret", "DescribeSecret"}) {
		t.Errorf("SAE calls %v, want DescribeSecret, UpdateSecret, DescribeSecret", got)
	}
	w.holdsToken(nsProd, id, w.onlyToken(), publicHost, vpcHost)
	got, top := w.dockerConfig(nsProd, id)
	for h, a := range others {
		if got[h] != a {
			t.Errorf("the entry for %s was not kept", h)
		}
	}
	if len(got) != len(others)+2 || string(top["credsStore"]) != `"desktop"` {
		t.Errorf("%d auths entries, credsStore %s: want the three others and the two rotated hosts, credsStore kept", len(got), top["credsStore"])
	}
	stored := w.stored(nsProd, id).Data
	for k, v := range keys {
		if stored[k] != v {
			t.Errorf("SecretData key %q was not kept", k)
		}
	}
	if len(stored) != 3 {
		t.Errorf("the secret holds %d keys, want 3", len(stored))
	}
}

// A read whose answer lacks the value fails CorruptSecretData in every
// store, with nothing written: SAE's DescribeSecret without SecretData,
// with SecretData null or without .dockerconfigjson; KMS without
// SecretData, CSMS without secret_string, SSM without SecretString.
func TestAbsentValueWritesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	absent := w.secret(nsProd, "absent", map[string]auth{"docker.io": login("team", "absent-kept")}, nil)
	null := w.secret(nsProd, "null", map[string]auth{"docker.io": login("team", "null-kept")}, nil)
	nokey := w.rawSecret(nsProd, "no-key", dockerType, map[string]string{"notes": "no docker config here"})
	w.emu.SetAnswerEdit("sae", "DescribeSecret", func(ans map[string]any) {
		d := ans["Data"].(map[string]any)
		switch fmt.Sprint(d["SecretId"]) {
		case fmt.Sprint(absent):
			delete(d, "SecretData")
		case fmt.Sprint(null):
			d["SecretData"] = nil
		}
	})
	w.kmsSecret("kms-absent", map[string]auth{}, nil)
	w.emu.SetAnswerEdit("kms", "GetSecretValue", func(ans map[string]any) { delete(ans, "SecretData") })
	w.emu.AddHuaweiCredential(huaweiKey)
	w.csmsSecret("csms-absent", map[string]auth{}, nil)
	w.emu.SetAnswerEdit("csms", "ShowSecretVersion", func(ans map[string]any) { delete(ans["version"].(map[string]any), "secret_string") })
	w.ssmSecret("ssm-absent", "current")
	w.emu.SetAnswerEdit("ssm", "GetSecretValue", func(ans map[string]any) { delete(ans["Response"].(map[string]any), "SecretString") })
	before := map[int64]emulator.Secret{}
	for _, id := range []int64{absent, null, nokey} {
		before[id] = w.stored(nsProd, id)
	}

	f := w.start(config(target("prod-pull", byID(nsProd, absent), byID(nsProd, null), byID(nsProd, nokey),
		kmsRef("kms-absent"), csmsRef("csms-absent"), ssmRef("ssm-absent", "current"))),
		append(append(w.huaweiEnv(), w.ssmEnv(tcKey)...), w.kmsEnv())...)
	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if !failed || rep.Failed != 6 || len(rep.Results) != 6 {
		w.guard.Fatalf("failed=%v results=%+v", failed, rep.Results)
	}
	for _, r := range rep.Results {
		if r.Error == nil || r.Error.Code != rotation.CorruptSecretData {
			w.guard.Errorf("%s %s %d: %+v, want CorruptSecretData", r.Where.Store, nameOf(r), idOf(r), r.Error)
		}
	}
	for _, action := range []string{"UpdateSecret", "PutSecretValue", "CreateSecretVersion"} {
		if n := len(w.calls(action)); n != 0 {
			t.Errorf("%d %s calls, want none", n, action)
		}
	}
	for id, b := range before {
		if !reflect.DeepEqual(w.stored(nsProd, id), b) {
			t.Errorf("secret %d changed", id)
		}
	}
}

// A docker config over the store's documented limit (SSM 4096, KMS 30720
// bytes) fails ValueTooLarge, the message giving its size and the limit,
// and no write is sent; the SAE secret of the same target rotates.
func TestValueTooLargeSendsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	saeID := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	// big is a docker config 150 bytes under limit as stored: over it once
	// the two rotated hosts join (some 500 bytes).
	big := func(limit int) string {
		for n := limit / 2; ; n -= 10 {
			l := login("team", "big-"+strings.Repeat("p", n))
			doc, _ := json.Marshal(map[string]any{"auths": map[string]auth{"registry.example.com": l}})
			if len(doc) <= limit-150 {
				w.guard.Add(l.Password, l.Auth)
				return string(doc)
			}
		}
	}
	w.emu.AddTencentCredential(tcKey)
	ssmDoc := big(4096)
	if err := w.emu.CreateSSMSecret(ssmRegion, "ssm-big", "current", ssmDoc, false); err != nil {
		t.Fatal(err)
	}
	w.emu.CreateKMSSecret(region, "kms-big", big(30720), false)

	f := w.start(config(target("prod-pull", byID(nsProd, saeID), kmsRef("kms-big"), ssmRef("ssm-big", "current"))),
		append(w.ssmEnv(tcKey), w.kmsEnv())...)
	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if !failed || rep.Rotated != 1 || rep.Failed != 2 {
		w.guard.Fatalf("failed=%v results=%+v", failed, rep.Results)
	}
	limits := map[string]string{"ssm": "at most 4096 bytes", "kms": "at most 30720 bytes"}
	for _, r := range rep.Results {
		if r.Where.Store == "sae" {
			continue
		}
		if r.Error == nil || r.Error.Code != rotation.ValueTooLarge || !strings.Contains(r.Error.Message, limits[r.Where.Store]) ||
			!strings.Contains(r.Error.Message, " bytes;") {
			w.guard.Errorf("%s: %+v, want ValueTooLarge giving the size and %q", r.Where.Store, r.Error, limits[r.Where.Store])
		}
	}
	if n := len(w.ssmCalls("UpdateSecret")) + len(w.calls("PutSecretValue")); n != 0 {
		t.Errorf("%d writes sent to SSM and KMS, want none", n)
	}
	if v, _ := w.emu.SSMSecret(ssmRegion, "ssm-big", "current"); v != ssmDoc {
		t.Error("the SSM secret changed")
	}
}

// A name resolved once is reused by the instance: the next invocation reads
// the secret with DescribeSecret alone. When the name has moved to another
// secret (the old one deleted, a new one made), DescribeSecret no longer
// confirms it and ListSecrets resolves it again.
func TestResolvedNameReusedByTheInstance(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	f := w.start(config(target("prod-pull", byName(nsProd, "acr-pull"))))
	run := func(want ...string) {
		t.Helper()
		w.emu.ResetCalls()
		rep, failed := f.invoke(`{"action":"rotate"}`, time.Minute)
		if failed || rep.Rotated != 1 {
			w.guard.Fatalf("failed=%v results=%+v", failed, rep.Results)
		}
		if got := w.saeActions(); !reflect.DeepEqual(got, want) {
			t.Errorf("SAE calls %v, want %v", got, want)
		}
	}
	run("ListSecrets", "DescribeSecret", "UpdateSecret", "DescribeSecret")
	run("DescribeSecret", "UpdateSecret", "DescribeSecret")

	if err := w.emu.DeleteSecret(nsProd, id); err != nil {
		t.Fatal(err)
	}
	renewed := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	run("DescribeSecret", "ListSecrets", "DescribeSecret", "UpdateSecret", "DescribeSecret")
	toks := w.emu.Tokens()
	w.holdsToken(nsProd, renewed, toks[len(toks)-1], publicHost, vpcHost)
}
