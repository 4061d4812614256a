package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// retryWaits are the waits the function logged before retrying a call.
func retryWaits(t *testing.T, stderr []byte, api string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, l := range logLines(stderr) {
		if l["msg"] != "API call failed, retrying" || l["api"] != api {
			continue
		}
		d, err := time.ParseDuration(fmt.Sprint(l["wait"]))
		if err != nil {
			t.Fatalf("retry line without a wait: %v", l)
		}
		out = append(out, d)
	}
	return out
}

// Three throttled answers in a row cost about a second, then two, then
// four (jittered), with the production default throttleWait of 1s and
// SAE's real quota: well within a minute, not a quota window per answer.
func TestThreeThrottlesInARowWaitInProportion(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	w.emu.SetQuota(60, time.Minute)
	w.emu.SetFault("UpdateSecret", emulator.Fault{Throttle: 3})
	cfg := `{"targets":[` + target("prod-pull", byID(nsProd, id)) + `]}`
	f := w.start(cfg)
	rep, failed := f.invoke(timerEvent(""), 2*time.Minute)
	if failed || rep.Rotated != 1 {
		w.guard.Fatalf("report: %+v", rep)
	}
	waits := retryWaits(t, f.stderr.Bytes(), "write")
	if len(waits) != 3 {
		t.Fatalf("%d retries of the write were logged, want 3: %v", len(waits), waits)
	}
	var total time.Duration
	for i, d := range waits {
		lo, hi := time.Duration(float64(time.Second<<i)*0.75), time.Duration(float64(time.Second<<i)*1.25)
		if d < lo-50*time.Millisecond || d > hi+50*time.Millisecond {
			t.Errorf("wait %d after a throttle: %v, want %v..%v", i+1, d, lo, hi)
		}
		total += d
	}
	if total > 10*time.Second {
		t.Errorf("three throttles cost %v of waiting", total)
	}
}

// Throttling that never ends: a normal run gives up after 180 throttle
// waits, an emergency run after 60 and never waits more than 5 between
// tries; both say that throttling is why.
func TestEndlessThrottlingGivesUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		event     string
		giveUp    time.Duration // with throttleWait 50ms
		maxWait   time.Duration
		emergency bool
	}{
		{"normal", `{"action":"rotate"}`, 180 * 50 * time.Millisecond, 30 * 50 * time.Millisecond * 5 / 4, false},
		{"emergency", `{"action":"rotate","emergency":true,"reason":"leaked"}`, 60 * 50 * time.Millisecond, 5 * 50 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
			before := w.stored(nsProd, id)
			w.emu.SetFault("UpdateSecret", emulator.Fault{Throttle: 1 << 20})
			cfg := strings.Replace(config(target("prod-pull", byID(nsProd, id))), `"throttleWait":"100ms"`, `"throttleWait":"50ms"`, 1)
			f := w.start(cfg)
			start := time.Now()
			rep, failed := f.invoke(tc.event, 5*time.Minute)
			took := time.Since(start)
			if !failed || len(rep.Results) != 1 || rep.Results[0].Error == nil || rep.Results[0].Error.Code != rotation.Throttled {
				w.guard.Fatalf("report: %+v", rep)
			}
			msg := rep.Results[0].Error.Message
			if !strings.Contains(msg, "throttled") || tc.emergency != strings.Contains(msg, "emergency") {
				t.Errorf("message %q does not say throttling is why (emergency=%v)", msg, tc.emergency)
			}
			if took > tc.giveUp+5*time.Second || took < tc.giveUp/2 {
				t.Errorf("gave up after %v, want about %v", took, tc.giveUp)
			}
			for _, d := range retryWaits(t, f.stderr.Bytes(), "write") {
				if d > tc.maxWait+20*time.Millisecond {
					t.Errorf("waited %v between tries, want at most %v", d, tc.maxWait)
				}
			}
			if got := w.stored(nsProd, id); got.UpdateTime != before.UpdateTime {
				t.Error("the secret changed")
			}
		})
	}
}

// Events coalesce: an event run skips a secret this instance wrote less
// than eventCooldown ago; timer and manual runs rotate anyway.
func TestEventCooldown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	a := w.secret(nsProd, "pull-a", map[string]auth{}, nil)
	b := w.secret(nsStaging, "pull-b", map[string]auth{}, nil)
	f := w.start(config(target("prod-pull", byID(nsProd, a), byName(nsStaging, "pull-b"))))
	event := `{"specversion":"1.0","id":"e1","source":"acs.cr","type":"cr:Artifact:PushCompleted","data":{"InstanceId":"` + instanceID + `"}}`

	for i := range 2 {
		rep, failed := f.invoke(event, time.Minute)
		want := map[int]string{0: rotation.StatusRotated, 1: rotation.StatusSkipped}[i]
		if failed || len(rep.Results) != 2 {
			w.guard.Fatalf("event %d: %+v", i, rep)
		}
		for _, r := range rep.Results {
			if r.Status != want || (want == rotation.StatusSkipped && r.Reason != rotation.ReasonCooldown) {
				t.Errorf("event %d: %s %d: status %q reason %q, want %q", i, nsOf(r), idOf(r), r.Status, r.Reason, want)
			}
		}
		if i == 1 && (rep.Skipped != 2 || rep.Rotated != 0) {
			t.Errorf("event 2: counts rotated=%d skipped=%d", rep.Rotated, rep.Skipped)
		}
	}
	// The second event made no call at all: nothing to read, mint or write.
	if n := len(w.calls("GetAuthorizationToken")); n != 1 {
		t.Errorf("%d tokens minted for two events, want 1", n)
	}
	for _, s := range []struct {
		ns string
		id int64
	}{{nsProd, a}, {nsStaging, b}} {
		if n := w.writes(s.ns, s.id); n != 1 {
			t.Errorf("secret %d written %d times by two events, want once", s.id, n)
		}
	}
	// A timer run right after rotates anyway.
	if rep, failed := f.invoke(timerEvent(""), time.Minute); failed || rep.Rotated != 2 {
		w.guard.Errorf("timer after the events: %+v", rep)
	}
}

// A server that quotes the request in its error message: nothing of the
// secret data, the token or the function's security token reaches the
// report, the logs or stdout — not a 16-character piece of it, even when
// the server cut its quote short.
func TestEchoedRequestNeverPrinted(t *testing.T) {
	t.Parallel()
	for _, cut := range []int{0, 137, 301} {
		t.Run(fmt.Sprintf("cut %d", cut), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			id := w.secret(nsProd, "acr-pull", map[string]auth{"registry.example.com": login("team", "foreign-registry-password")}, nil)
			w.emu.SetFault("UpdateSecret", emulator.Fault{Echo: 1000, EchoCut: cut})
			f := w.start(config(target("prod-pull", byID(nsProd, id))))
			rep, failed := f.invoke(timerEvent(""), time.Minute)
			if !failed || len(rep.Results) != 1 || rep.Results[0].Error == nil || rep.Results[0].Error.Code != rotation.UpdateFailed {
				w.guard.Fatalf("report: %+v", rep)
			}
			if !strings.Contains(rep.Results[0].Error.Message, "InvalidParameter.WithMessage") {
				t.Errorf("the message %q does not say what SAE answered", rep.Results[0].Error.Message)
			}
			var secrets []string
			for _, c := range w.calls("UpdateSecret") {
				secrets = append(secrets, c.Query.Get("SecretData"))
			}
			for _, tok := range w.emu.Tokens() {
				secrets = append(secrets, tok.Password)
			}
			secrets = append(secrets, sts.SecurityToken, sts.AccessKeySecret)
			out := map[string][]byte{"stdout": f.stdout.Bytes(), "stderr": f.stderr.Bytes(), "report": rep.JSON()}
			for name, b := range out {
				for i, s := range secrets {
					if p, ok := sharedPiece(string(b), s, 16); ok {
						t.Errorf("%s holds a 16-character piece of secret #%d (at offset %d of it)", name, i, p)
					}
				}
			}
		})
	}
}

// sharedPiece finds a piece of secret of length n that text holds.
func sharedPiece(text, secret string, n int) (int, bool) {
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+n]) {
			return i, true
		}
	}
	return 0, false
}

// The pacer refuses for lack of time: calls the quota would let out only
// after the deadline are DeadlineExceeded, never UpdateFailed, and nothing
// is written half-way.
func TestQuotaPastTheDeadlineIsDeadlineExceeded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	var refs []string
	for i := range 5 {
		ns := fmt.Sprintf("%s-%d", nsProd, i)
		refs = append(refs, byID(ns, w.secret(ns, "acr-pull", map[string]auth{}, nil)))
	}
	w.emu.SetQuota(24, time.Minute)
	// 24 a minute: a burst of 2, then a call every ~2.9 s. Five secrets
	// start at once; the fifth's read would go out after the deadline.
	cfg := `{"quota":{"calls":24,"per":"1m"},"concurrency":5,"targets":[` + target("prod-pull", refs...) + `]}`
	f := w.start(cfg)
	rep, failed := f.invoke(timerEvent(""), 7*time.Second)
	if !failed || len(rep.Results) != 5 {
		w.guard.Fatalf("report: %+v", rep)
	}
	limiter := false
	for _, r := range rep.Results {
		if r.Status == rotation.StatusRotated {
			continue
		}
		if r.Error == nil || r.Error.Code != rotation.DeadlineExceeded {
			t.Errorf("%s: %+v, want DeadlineExceeded", nsOf(r), r.Error)
			continue
		}
		limiter = limiter || strings.Contains(r.Error.Message, "only after the invocation's deadline")
	}
	if !limiter {
		t.Errorf("no secret was refused by the quota for lack of time: %+v", rep.Results)
	}
	for _, c := range w.calls("UpdateSecret") {
		verified := false
		for _, d := range w.calls("DescribeSecret") {
			verified = verified || d.Query.Get("SecretId") == c.Query.Get("SecretId")
		}
		if !verified {
			t.Errorf("secret %s was written but not verified", c.Query.Get("SecretId"))
		}
	}
}
