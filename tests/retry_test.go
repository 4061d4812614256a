package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// redeliver delivers an event as FC's async retry delivers it again: the
// same request id, x-fc-retry-count above 0.
func (f *function) redeliver(event, requestID string, retry int, timeout time.Duration) (rotation.Report, bool) {
	f.w.t.Helper()
	rep, failed, err := f.invokeWith(emulator.Invocation{RequestID: requestID, Payload: []byte(event), Timeout: timeout, Credentials: sts, RetryCount: retry})
	if err != nil {
		f.w.t.Fatal(err)
	}
	return rep, failed
}

// One missing secret fails the invocation, so FC retries it: the retry
// makes no call and mints nothing for the secrets the first delivery
// rotated (skipped, cooldown), and tries the missing one again. A new
// timer run afterwards rotates everything as usual.
func TestFCRetryCostsNothingTwice(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	a := w.secret(nsProd, "pull-a", map[string]auth{}, nil)
	b := w.secret(nsStaging, "pull-b", map[string]auth{}, nil)
	missing := byID(nsProd, 424242)
	f := w.start(config(target("prod-pull", byID(nsProd, a), byID(nsStaging, b), missing)))
	event := timerEvent("")

	first, failed := f.redeliver(event, "timer-1", 0, time.Minute)
	if !failed || first.Rotated != 2 || first.Failed != 1 {
		w.guard.Fatalf("first delivery: failed=%v %+v", failed, first)
	}
	before := len(w.emu.Calls())
	retry, failed := f.redeliver(event, "timer-1", 1, time.Minute)
	if !failed || retry.Skipped != 2 || retry.Failed != 1 || retry.Rotated != 0 {
		w.guard.Fatalf("the retry: failed=%v %+v", failed, retry)
	}
	for _, r := range retry.Results {
		switch {
		case idOf(r) == a || idOf(r) == b:
			if r.Status != rotation.StatusSkipped || r.Reason != rotation.ReasonCooldown {
				t.Errorf("the retry: secret %d is %q (reason %q), want skipped for the cooldown", idOf(r), r.Status, r.Reason)
			}
		case r.Error == nil || r.Error.Code != rotation.SecretNotFound:
			t.Errorf("the retry: the missing secret: %+v, want SecretNotFound again", r)
		}
	}
	for _, c := range w.emu.Calls()[before:] {
		switch {
		case c.Action == "GetAuthorizationToken" || c.Action == "UpdateSecret":
			t.Errorf("the retry called %s", c.Action)
		case c.Query.Get("NamespaceId") == nsStaging:
			t.Errorf("the retry called %s for the skipped secret of %s", c.Action, nsStaging)
		}
	}
	for _, id := range []int64{a, b} {
		if n := w.writes(map[int64]string{a: nsProd, b: nsStaging}[id], id); n != 1 {
			t.Errorf("secret %d was written %d times, want once", id, n)
		}
	}
	// A new run, not a retry, rotates them again.
	if rep, _ := f.redeliver(event, "timer-2", 0, time.Minute); rep.Rotated != 2 {
		w.guard.Errorf("the next timer run: %+v", rep)
	}
}

// Two targets write different hosts of one secret while ListSecrets answers
// one update behind: the second target's read lags behind the first one's
// write, is read again, and both hosts end with this run's tokens. The
// listing carries the values here, as older API versions did: it is then the
// read that feeds the merge, while DescribeSecret verifies, so the lag
// reaches the second target's read (with documented answers DescribeSecret
// is both, and verification's re-reads use the lag up).
func TestLaggingReadLosesNoUpdate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	const hostA, hostB = "a.registry.example.com", "b.registry.example.com"
	old := map[string]auth{hostA: login("old-a", "old-password-of-host-a"), hostB: login("old-b", "old-password-of-host-b")}
	id := w.secret(nsProd, "shared-pull", old, nil)
	tgt := func(name, host string) string {
		return fmt.Sprintf(`{"name":%q,"source":{"type":"acr-ee","instanceId":%q,"regionId":%q,"domains":[%q]},"secrets":[%s]}`,
			name, instanceID, region, host, byName(nsProd, "shared-pull"))
	}
	w.emu.SetListSecretsData(true)
	w.emu.SetFault("ListSecrets", emulator.Fault{LagReads: 1})
	f := w.start(config(tgt("host-a", hostA), tgt("host-b", hostB)))
	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 2 {
		w.guard.Fatalf("failed=%v %+v", failed, rep)
	}
	toks := w.emu.Tokens()
	if len(toks) != 2 {
		t.Fatalf("%d tokens minted, want one per target", len(toks))
	}
	auths, _ := w.dockerConfig(nsProd, id)
	for _, h := range []string{hostA, hostB} {
		if auths[h] != login(toks[0].Username, toks[0].Password) && auths[h] != login(toks[1].Username, toks[1].Password) {
			t.Errorf("%s does not hold a token of this run: an update was lost", h)
		}
	}
	// The scenario happened: a read lagged behind the first write.
	lagged := false
	for _, l := range logLines(f.stderr.Bytes()) {
		lagged = lagged || strings.Contains(fmt.Sprint(l["msg"]), "lags behind this invocation's own write")
	}
	if !lagged {
		t.Error("no read lagged behind the first target's write: the test did not provoke what it tests")
	}
}

// A write the store refused, or one that never got a definite answer (and
// may have landed), starts no cooldown: the secret failed, and the next
// event tries it again.
func TestFailedWriteStartsNoCooldown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
	}{
		{"refused", emulator.Fault{Echo: 1}},                                   // 400 InvalidParameter.WithMessage
		{"no definite answer", emulator.Fault{Fail: 1 << 10, FailStatus: 503}}, // 5xx until the retries give up
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
			f := w.start(config(target("prod-pull", byID(nsProd, id))))
			w.emu.SetFault("UpdateSecret", tc.fault)
			if rep, failed := f.invoke(registryEvent("e1"), time.Minute); !failed || rep.Failed != 1 || rep.Results[0].Error.Code != rotation.UpdateFailed {
				w.guard.Fatalf("first event: %+v", rep)
			}
			w.emu.SetFault("UpdateSecret", emulator.Fault{})
			rep, failed := f.invoke(registryEvent("e2"), time.Minute)
			if failed || rep.Rotated != 1 {
				w.guard.Errorf("the next event: %+v, want the secret rotated (no cooldown)", rep.Results)
			}
		})
	}
}
