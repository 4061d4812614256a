package tests

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// A temporary ACR token carries the permissions of the identity that minted
// it: with probeRepository, the proof before the first write is a pull from
// the emulator's registry (CNCF Distribution behind its token service).

const probeRepo = "team/web"

// publish pushes repo:v1 to the test instance as a CI job would and
// returns its digest. The push's registry calls are forgotten.
func (w *world) publish(repo string) string {
	w.t.Helper()
	digest, err := w.emu.Publish(context.Background(), instanceID, repo, "v1")
	if err != nil {
		w.t.Fatal(err)
	}
	return digest
}

// grantPull gives identity cr:PullRepository on every repository of the
// test instance, as the deploy files grant the minting identity.
func (w *world) grantPull(identity string) {
	w.t.Helper()
	if err := w.emu.Grant(identity, emulator.ActionPull, "acs:cr:"+region+":1234567890123456:repository/"+instanceID+"/*"); err != nil {
		w.t.Fatal(err)
	}
}

// probeTarget is target with loginCheck and probeRepository set on the source.
func probeTarget(name, mode, repo string, refs ...string) string {
	keys := `"probeRepository":"` + repo + `"`
	if mode != "" {
		keys += `,"loginCheck":"` + mode + `"`
	}
	return strings.Replace(target(name, refs...), `"type":"acr-ee"`, `"type":"acr-ee",`+keys, 1)
}

// registryCalls counts the registry calls of one action.
func (w *world) registryCalls(action string) []emulator.Call {
	var out []emulator.Call
	for _, c := range w.calls(action) {
		if c.Product == "registry" {
			out = append(out, c)
		}
	}
	return out
}

// Each outcome of the pull proof, for an SAE and a KMS secret of one target:
// allowed, refused for want of pull (nothing written anywhere), a
// repository that does not exist, loginCheck off and a plan (no probe), and
// minting with an assumed role that may pull where the function's own role
// may not.
func TestPullProbe(t *testing.T) {
	t.Parallel()
	type want struct {
		status string
		code   rotation.Code
		login  string
		words  []string // in the error message
	}
	rotated := func(login string) want { return want{status: rotation.StatusRotated, login: login} }
	rejected := func(words ...string) want {
		return want{status: rotation.StatusFailed, code: rotation.CredentialRejected, words: append(words, "pull", "nothing was written")}
	}
	for _, tc := range []struct {
		name   string
		grant  func(w *world) // RAM grants before the run
		repo   string
		mode   string
		role   bool // the source mints with minterRole
		event  string
		want   want
		probes bool // the registry was asked for tags/list
	}{
		{name: "pull allowed", grant: func(w *world) { w.grantPull(sts.AccessKeyID) }, want: rotated(rotation.LoginOK), probes: true},
		{name: "identity without pull", want: rejected(probeRepo, "HTTP 401", "may not pull"), probes: true},
		{name: "unknown repository", grant: func(w *world) { w.grantPull(sts.AccessKeyID) }, repo: "team/nope",
			want: rejected("team/nope", "HTTP 404"), probes: true},
		{name: "loginCheck off", mode: "off", want: rotated(rotation.LoginSkipped)},
		{name: "plan", mode: "required", event: `{"action":"plan"}`, want: want{status: rotation.StatusPlanned, login: rotation.LoginSkipped}},
		{name: "minted with a role that may pull", grant: func(w *world) { w.grantPull(minterRole) }, role: true,
			want: rotated(rotation.LoginOK), probes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			w.publish(probeRepo)
			if tc.grant != nil {
				tc.grant(w)
			}
			repo := tc.repo
			if repo == "" {
				repo = probeRepo
			}
			saeID := w.secret(nsProd, "acr-pull", map[string]auth{"docker.io": login("team", "probe-foreign-password")}, nil)
			before := w.stored(nsProd, saeID).Data[".dockerconfigjson"]
			w.kmsSecret("acr-pull", map[string]auth{"docker.io": login("team", "probe-foreign-password")}, nil)
			tg := probeTarget("prod-pull", tc.mode, repo, byID(nsProd, saeID), kmsRef("acr-pull"))
			env := []string{w.kmsEnv()}
			if tc.role {
				w.emu.AddRole(minterRole, sts.AccessKeyID)
				tg = strings.Replace(tg, `"regionId":"`+region+`"`, `"regionId":"`+region+`","assumeRole":"`+minterRole+`"`, 1)
				env = append(env, stsEnv(w))
			}
			event := tc.event
			if event == "" {
				event = timerEvent("")
			}
			f := w.start(config(tg), env...)
			rep, _ := f.invoke(event, time.Minute)
			if len(rep.Results) != 2 {
				w.guard.Fatalf("report: %+v", rep)
			}
			for _, r := range rep.Results {
				code, msg := rotation.Code(""), ""
				if r.Error != nil {
					code, msg = r.Error.Code, r.Error.Message
				}
				if r.Status != tc.want.status || code != tc.want.code || r.Login != tc.want.login {
					w.guard.Errorf("%s secret: status %q code %q login %q (%s), want %+v", r.Where.Store, r.Status, code, r.Login, msg, tc.want)
				}
				for _, word := range tc.want.words {
					if !strings.Contains(msg, word) {
						w.guard.Errorf("%s secret: the message %q does not say %q", r.Where.Store, msg, word)
					}
				}
			}
			writes := len(w.calls("UpdateSecret")) + len(w.calls("PutSecretValue"))
			if wrote := tc.want.status == rotation.StatusRotated; (writes == 2) != wrote || (writes == 0) == wrote {
				t.Errorf("%d writes (UpdateSecret, PutSecretValue), want them only for a rotation", writes)
			}
			if tc.want.status != rotation.StatusRotated {
				if w.stored(nsProd, saeID).Data[".dockerconfigjson"] != before || len(w.emu.KMSVersions(region, "acr-pull")) != 1 {
					t.Error("a secret changed though nothing was to be written")
				}
			}
			lists := w.registryCalls("ListTags")
			if (len(lists) > 0) != tc.probes {
				t.Errorf("%d tags/list calls, want a probe: %v", len(lists), tc.probes)
			}
			if !tc.probes && len(w.registryCalls("Token"))+len(w.registryCalls("Ping")) != 0 {
				t.Error("the registry was called without a probe")
			}
			for _, c := range w.registryCalls("Token") {
				if c.Query.Get("scope") != "repository:"+repo+":pull" {
					t.Errorf("the token endpoint was asked for %q, want the pull of %s", c.Query.Get("scope"), repo)
				}
			}
			if tc.probes && writes > 0 {
				if ups := w.calls("UpdateSecret"); ups[0].Time.Before(lists[0].Time) {
					t.Error("a secret was written before the pull was proven")
				}
			}
		})
	}
}

// How it is shown: a target whose minting identity may not pull fails
// before anything is written; granted pull, it rotates, and the docker
// config written pulls the image's manifest with go-containerregistry.
func TestPullProvenBeforeWrite(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	digest := w.publish(probeRepo)
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	before := w.stored(nsProd, id)
	f := w.start(config(probeTarget("prod-pull", "", probeRepo, byID(nsProd, id))))

	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if !failed || rep.Failed != 1 || rep.Results[0].Error == nil || rep.Results[0].Error.Code != rotation.CredentialRejected {
		w.guard.Fatalf("a minter without pull: %+v", rep.Results)
	}
	if n := len(w.calls("UpdateSecret")); n != 0 || w.stored(nsProd, id).UpdateTime != before.UpdateTime {
		t.Fatalf("%d UpdateSecret calls for a token that cannot pull", n)
	}

	w.grantPull(sts.AccessKeyID) // the function's role, which mints in FC
	rep, failed = f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 1 || rep.Results[0].Login != rotation.LoginOK {
		w.guard.Fatalf("a minter with pull: %+v", rep.Results)
	}
	auths, _ := w.dockerConfig(nsProd, id)
	entry, ok := auths[publicHost]
	if !ok {
		t.Fatalf("no login written for %s", publicHost)
	}
	// The written login, as docker would read it (the auth member), pulls
	// the manifest; the emulator serves every domain of the instance.
	if _, err := base64.StdEncoding.DecodeString(entry.Auth); err != nil {
		t.Fatal("the written auth is not base64")
	}
	ref, err := name.ParseReference(w.emu.RegistryHost()+"/"+probeRepo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Auth: entry.Auth})))
	if err != nil {
		w.guard.Fatalf("the written config does not pull the manifest: %v", err)
	}
	if desc.Digest.String() != digest || len(desc.Manifest) == 0 {
		t.Errorf("pulled manifest %s, want the pushed image %s", desc.Digest, digest)
	}
}
