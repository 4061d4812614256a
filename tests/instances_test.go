package tests

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// registryEvent is an EventBridge CloudEvent from acs.cr naming the test
// instance, as the deploy files subscribe to it.
func registryEvent(id string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"acs.cr","type":"cr:Artifact:PushCompleted","data":{"InstanceId":"` + instanceID + `","RegionId":"` + region + `","RepoNamespaceName":"team","RepoName":"app","Tag":"v2"}}`
}

// stop ends a function process, as FC ends an instance, and waits until the
// emulator has noticed that its poll is gone: the next invocation can only
// reach a process started after this.
func (f *function) stop() {
	f.w.t.Helper()
	_ = f.cmd.Process.Kill()
	_ = f.cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for f.w.emu.Pollers() > 0 {
		if time.Now().After(deadline) {
			f.w.t.Fatal("the emulator still counts a poll of the stopped process")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deliver invokes with a request id and FC's retry count, and checks that
// the invocation reached this process (its log names the request id).
func (f *function) deliver(event, requestID string, retry int) (rotation.Report, bool) {
	f.w.t.Helper()
	rep, failed := f.redeliver(event, requestID, retry, time.Minute)
	if !f.served(requestID) {
		f.w.t.Fatalf("invocation %s did not reach the process meant for it", requestID)
	}
	return rep, failed
}

// served reports whether the process logged the request id.
func (f *function) served(requestID string) bool {
	for _, l := range logLines(f.stderr.Bytes()) {
		if l["requestId"] == requestID {
			return true
		}
	}
	return false
}

// readsOnly fails for any call since `from` that is not a read of a secret
// or of the source's domains: no token minted, no login, nothing written.
func (w *world) readsOnly(what string, from int) {
	w.t.Helper()
	reads := []string{"DescribeSecret", "ListSecrets", "GetSecretValue", "ShowSecretVersion", "ListInstanceEndpoint"}
	n := 0
	for _, c := range w.emu.Calls()[from:] {
		if !slices.Contains(reads, c.Action) {
			w.t.Errorf("%s called %s %s: want reads only (no mint, no login, no write)", what, c.Product, c.Action)
		}
		n++
	}
	if n == 0 {
		w.t.Errorf("%s made no call: the store's record comes with the secret's read", what)
	}
}

// skippedAll checks that every result is skipped for the cooldown.
func skippedAll(t *testing.T, what string, rep rotation.Report, n int) {
	t.Helper()
	if rep.Skipped != n || rep.Rotated != 0 || rep.Failed != 0 || len(rep.Results) != n {
		t.Fatalf("%s: %d skipped, %d rotated, %d failed of %d results; want all %d skipped", what, rep.Skipped, rep.Rotated, rep.Failed, len(rep.Results), n)
	}
	for _, r := range rep.Results {
		if r.Status != rotation.StatusSkipped || r.Reason != rotation.ReasonCooldown {
			t.Errorf("%s: %s %s is %q (reason %q), want skipped for the cooldown", what, r.Where.Store, nameOf(r), r.Status, r.Reason)
		}
	}
}

// Three function processes, as three FC instances, on one cloud: the first
// rotates on the timer; a registry event delivered to the second right
// after, and FC's retry of the timer event delivered to a third, find every
// secret changed less than eventCooldown ago by the stores' own records
// (SAE UpdateTime, KMS CreateTime, CSMS create_time) and skip it: its read,
// and no token, no login, no write. (This instance's memory alone, which the
// new processes do not share, would rotate them all again.)
func TestCooldownAcrossInstances(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	w.emu.AddHuaweiCredential(huaweiKey)
	foreign := login("team", "instances-foreign-password")
	byIDSecret := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	byNameSecret := w.secret(nsStaging, "acr-pull", map[string]auth{"docker.io": foreign}, nil)
	w.kmsSecret("acr-pull", map[string]auth{"docker.io": foreign}, nil)
	w.csmsSecret("acr-pull", map[string]auth{}, nil)
	cfg := config(target("prod-pull", byID(nsProd, byIDSecret), byName(nsStaging, "acr-pull"), kmsRef("acr-pull"), csmsRef("acr-pull")))
	env := append(w.huaweiEnv(), w.kmsEnv())
	const secrets = 4

	first := w.start(cfg, env...)
	rep, failed := first.deliver(timerEvent(""), "timer-1", 0)
	if failed || rep.Rotated != secrets {
		w.guard.Fatalf("the timer run: failed=%v %+v", failed, rep.Results)
	}
	first.stop()
	type state struct {
		sae    [2]string
		kms    string
		csms   string
		tokens int
	}
	snapshot := func() state {
		_, _, kmsVersion := w.kmsConfig("acr-pull")
		_, _, csmsVersion := w.csmsConfig("acr-pull")
		return state{sae: [2]string{w.stored(nsProd, byIDSecret).Data[".dockerconfigjson"], w.stored(nsStaging, byNameSecret).Data[".dockerconfigjson"]},
			kms: kmsVersion, csms: csmsVersion, tokens: len(w.emu.Tokens())}
	}
	rotated := snapshot()

	for _, tc := range []struct {
		name, event, requestID string
		retry                  int
	}{
		{"a registry event delivered to a second instance", registryEvent("push-1"), "event-1", 0},
		{"FC's retry of the timer event delivered to a third instance", timerEvent(""), "timer-1", 1},
	} {
		from := len(w.emu.Calls())
		next := w.start(cfg, env...)
		rep, failed := next.deliver(tc.event, tc.requestID, tc.retry)
		next.stop()
		if failed {
			w.guard.Errorf("%s: the invocation failed: %+v", tc.name, rep.Results)
		}
		skippedAll(t, tc.name, rep, secrets)
		w.readsOnly(tc.name, from)
		if now := snapshot(); now != rotated {
			t.Errorf("%s: a secret changed, or a token was minted (%d tokens, want %d)", tc.name, now.tokens, rotated.tokens)
		}
	}
	if first.served("event-1") {
		t.Error("the registry event reached the first process")
	}
}

// The command line is a new process each time, with no memory: `main
// -event` with a registry event right after a rotation reads the secret,
// finds the store's record of the change, and skips it (exit 0).
func TestCommandLineCooldown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	cfg := config(target("prod-pull", byID(nsProd, id)))
	if rep, exit := w.cli(cfg, timerEvent("")); exit != 0 || rep.Rotated != 1 {
		w.guard.Fatalf("the timer run: exit %d, %+v", exit, rep.Results)
	}
	from := len(w.emu.Calls())
	rep, exit := w.cli(cfg, registryEvent("push-1"))
	if exit != 0 {
		t.Errorf("exit %d, want 0: a skipped secret is a success", exit)
	}
	skippedAll(t, "the event", rep, 1)
	w.readsOnly("the event", from)
	if n := w.writes(nsProd, id); n != 1 {
		t.Errorf("%d writes, want the timer run's alone", n)
	}
}

// The store's record does not say who changed a secret. An edit made a
// moment ago outside the function that removed one of the source's hosts
// does not hide the secret: the next event run rotates it, restoring the
// host and keeping the edit. An edit that left every host's entry in
// place counts as a recent change, as the docs say.
func TestForeignEditDroppingAHostIsRotated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		drop    bool // the edit removes the VPC host's entry
		rotates bool
	}{
		{"an edit that removed a host of the source", true, true},
		{"an edit that kept every host of the source", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
			cfg := config(target("prod-pull", byID(nsProd, id)))
			if rep, exit := w.cli(cfg, timerEvent("")); exit != 0 || rep.Rotated != 1 {
				w.guard.Fatalf("the timer run: exit %d, %+v", exit, rep.Results)
			}
			auths, _ := w.dockerConfig(nsProd, id)
			if tc.drop {
				delete(auths, vpcHost)
			}
			foreign := login("team", "edit-foreign-password")
			auths["docker.io"] = foreign
			edited := encode(t, auths, nil)
			w.guard.Add(foreign.Password, foreign.Auth, edited)
			before := w.stored(nsProd, id).UpdateTime
			if err := w.emu.SetSecretData(nsProd, id, map[string]string{".dockerconfigjson": edited}); err != nil {
				t.Fatal(err)
			}
			if w.stored(nsProd, id).UpdateTime <= before {
				t.Fatal("the edit did not move UpdateTime")
			}

			rep, exit := w.cli(cfg, registryEvent("push-1"))
			switch {
			case !tc.rotates:
				skippedAll(t, "the event", rep, 1)
			case exit != 0 || rep.Rotated != 1:
				w.guard.Fatalf("the event run: exit %d, %+v; want the secret rotated", exit, rep.Results)
			default:
				toks := w.emu.Tokens()
				w.holdsToken(nsProd, id, toks[len(toks)-1], publicHost, vpcHost)
				if got, _ := w.dockerConfig(nsProd, id); got["docker.io"] != foreign {
					t.Error("the edit's own entry was lost")
				}
			}
		})
	}
}

// One registry event, two targets of the instance writing different hosts
// of one secret: the second target's hosts are not hidden by the first
// one's write (the store's record then shows this instance's own write, and
// the instance's memory is kept per source). Both rotate, in one run; the
// next event skips both.
func TestOneEventTwoTargetsOneSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	const hostA, hostB = "a.registry.example.com", "b.registry.example.com"
	old := map[string]auth{hostA: login("old-a", "old-password-of-host-a"), hostB: login("old-b", "old-password-of-host-b")}
	// Last changed an hour ago: the store's record holds nothing back.
	enc := encode(t, old, nil)
	w.guard.Add(enc, old[hostA].Password, old[hostA].Auth, old[hostB].Password, old[hostB].Auth)
	hourAgo := time.Now().Add(-time.Hour).UnixMilli()
	id, err := w.emu.CreateSecret(emulator.Secret{NamespaceID: nsProd, Name: "shared-pull", Type: dockerType,
		Data: map[string]string{".dockerconfigjson": enc}, CreateTime: hourAgo, UpdateTime: hourAgo})
	if err != nil {
		t.Fatal(err)
	}
	w.guard.Track(nsProd, id)
	tgt := func(name, host string) string {
		return fmt.Sprintf(`{"name":%q,"source":{"type":"acr-ee","instanceId":%q,"regionId":%q,"domains":[%q]},"secrets":[%s]}`,
			name, instanceID, region, host, byID(nsProd, id))
	}
	// One secret at a time, so that the second target meets the first one's write.
	f := w.start(strings.Replace(config(tgt("host-a", hostA), tgt("host-b", hostB)), `{"schedule"`, `{"concurrency":1,"schedule"`, 1))
	rep, failed := f.invoke(registryEvent("push-1"), time.Minute)
	if failed || rep.Rotated != 2 || rep.Skipped != 0 {
		w.guard.Fatalf("the event: failed=%v %+v, want both targets rotated", failed, rep)
	}
	toks := w.emu.Tokens()
	auths, _ := w.dockerConfig(nsProd, id)
	for _, h := range []string{hostA, hostB} {
		if auths[h] != login(toks[0].Username, toks[0].Password) && auths[h] != login(toks[1].Username, toks[1].Password) {
			t.Errorf("%s does not hold a token of this run", h)
		}
	}
	if rep, _ = f.invoke(registryEvent("push-2"), time.Minute); rep.Skipped != 2 {
		w.guard.Errorf("the next event: %+v, want both skipped", rep)
	}
}
