package rotation

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The engine's timing rules, on the fake store and source and a fake clock:
// each case takes no wall time and runs the same way every time. The
// end-to-end tests in tests/ keep a few of each against the emulator.

// The read that feeds a merge is at most freshness old when its write goes
// out, however long the quota or a throttle holds the write and the store
// takes: every write that reaches the store, throttled tries included.
func TestFreshnessRule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		secrets   int
		quota     int // the store's calls per 10 s; 0: none
		latency   time.Duration
		throttles int // writes throttled first
		want      string
		fewest    int // reads at least (a read renewed when it aged)
	}{
		{"one secret, nothing holds the write", 1, 0, 100 * time.Millisecond, 0, StatusRotated, 1},
		{"a group read serves the writes that go out while it is fresh", 6, 0, 100 * time.Millisecond, 0, StatusRotated, 1},
		{"the quota holds the writes", 8, 6, 500 * time.Millisecond, 0, StatusRotated, 3},
		{"a slow store and a tight quota", 8, 6, 1500 * time.Millisecond, 0, StatusRotated, 6},
		{"throttles hold the write past the window", 1, 0, 100 * time.Millisecond, 4, StatusRotated, 2},
		{"a quota slower than the window: never a stale write", 1, 2, 100 * time.Millisecond, 0, string(UpdateFailed), 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const freshness = 5 * time.Second
			f := newFakeWorld(t)
			f.store.latency = tc.latency
			f.store.quota.Calls, f.store.quota.Per = tc.quota, 10*time.Second
			f.store.answer = func(op string, n int) error {
				if op == "write" && n <= tc.throttles {
					return apiError(400, "Throttling.User", true)
				}
				return nil
			}
			var names []string
			want := make([]string, tc.secrets)
			for i := range tc.secrets {
				name := fmt.Sprint("s", i)
				f.store.put(name, "g", `{"auths":{}}`, time.Time{})
				names, want[i] = append(names, name+"@g"), tc.want
			}
			rep := f.run(f.rotator(`"concurrency":1,"freshness":"5s"`, names...), rotateAll, 0, 0)
			if got := statusOf(rep); !reflect.DeepEqual(got, want) {
				t.Fatalf("%v, want %v", got, want)
			}
			writes := f.store.callsOf("write")
			for _, w := range writes {
				if age := w.at.Sub(w.readAt); age > freshness || age < 0 {
					t.Errorf("%s was written with a read %v old (freshness %v)", w.name, age, freshness)
				}
			}
			if tc.want == StatusRotated && len(writes) != tc.secrets+tc.throttles {
				t.Errorf("%d writes for %d secrets and %d throttles", len(writes), tc.secrets, tc.throttles)
			}
			if reads := len(f.store.callsOf("read")); reads < tc.fewest {
				t.Errorf("%d reads, want at least %d", reads, tc.fewest)
			}
		})
	}
}

// Throttling that does not end gives up: a normal run after 180
// throttleWaits of it, an emergency run within 60 of its own start and
// never waiting more than 5 between tries; throttling that ends is waited
// out in proportion.
func TestThrottlingGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		event     string
		throttles int           // writes throttled before one goes through; -1: all
		want      string        // the result
		lastTry   time.Duration // the last try at most this long after the first throttle...
		notBefore time.Duration // ...and at least this long
		maxGap    time.Duration // the longest wait between tries
		total     time.Duration // the whole run at most
	}{
		{"normal run, throttling never ends", rotateAll, -1, "Throttled", 180 * time.Second, 150 * time.Second, 30 * time.Second, 181 * time.Second},
		{"emergency run, throttling never ends", `{"action":"rotate","emergency":true}`, -1, "Throttled", 60 * time.Second, 50 * time.Second, 5 * time.Second, 60 * time.Second},
		{"three throttles in a row", rotateAll, 3, StatusRotated, 7 * time.Second, 7 * time.Second, 4 * time.Second, 60 * time.Second},
		{"three throttles in a row, emergency", `{"action":"rotate","emergency":true}`, 3, StatusRotated, 7 * time.Second, 7 * time.Second, 4 * time.Second, 60 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWorld(t)
			f.store.latency = 50 * time.Millisecond
			f.store.put("s", "", `{"auths":{}}`, time.Time{})
			f.store.answer = func(op string, n int) error {
				if op == "write" && (tc.throttles < 0 || n <= tc.throttles) {
					return apiError(400, "Throttling.User", true)
				}
				return nil
			}
			r := f.rotator("", "s")
			start := f.clock.Now()
			rep := f.run(r, tc.event, 0, 0)
			took := f.clock.Now().Sub(start)
			if got := statusOf(rep); !reflect.DeepEqual(got, []string{tc.want}) {
				t.Fatalf("result %v, want %s", got, tc.want)
			}
			writes := f.store.callsOf("write")
			first, last := writes[0].at, writes[len(writes)-1].at
			if d := last.Sub(first); d > tc.lastTry+time.Second || d < tc.notBefore {
				t.Errorf("%d tries over %v after the first throttle, want the last within [%v, %v]", len(writes), d, tc.notBefore, tc.lastTry)
			}
			// Between tries: the try's own call, the wait, and a read that a
			// slot carried when the write's read had aged meanwhile.
			for i := 1; i < len(writes); i++ {
				if gap := writes[i].at.Sub(writes[i-1].at); gap > tc.maxGap+2*f.store.latency {
					t.Errorf("try %d waited %v after the one before, want at most %v", i+1, gap, tc.maxGap)
				}
			}
			if took > tc.total {
				t.Errorf("the run took %v, want at most %v", took, tc.total)
			}
			if tc.want == "Throttled" {
				msg := rep.Results[0].Error.Message
				if !strings.Contains(msg, "still throttled") || strings.Contains(tc.event, "emergency") != strings.Contains(msg, "emergency run") {
					t.Errorf("the message %q does not say why", msg)
				}
			}
		})
	}
}

// The event cooldown and FC's retry rule: an event run, or FC's retry of a
// failed run, skips a secret that changed less than eventCooldown ago, by
// this instance's memory (at no call) or the store's record (at one read).
func TestCooldownRules(t *testing.T) {
	const changedHosts = `{"auths":{"r.example.com":{"auth":"eDp5"}}}`
	for _, tc := range []struct {
		name string
		// first runs on the first instance; then the clock moves on by
		// after, and second runs on the same instance, or a new one.
		first, second string
		retry         int
		after         time.Duration
		newInstance   bool
		storeRecord   bool   // the store says when the secret changed
		refuseFirst   bool   // the first run's write is refused
		want          string // the second run's result
		calls         int    // the second run's store calls, -1: any
	}{
		{"an event right after this instance rotated", rotateAll, cloudEvent(fakeHosts), 0, time.Minute, false, false, false, StatusSkipped, 0},
		{"an event after the cooldown", rotateAll, cloudEvent(fakeHosts), 0, 5 * time.Minute, false, false, false, StatusRotated, 3},
		{"FC's retry of a timer run", rotateAll, timerRun, 1, time.Minute, false, false, false, StatusSkipped, 0},
		{"FC's retry of a plan", rotateAll, `{"action":"plan"}`, 1, time.Minute, false, false, false, StatusPlanned, 1},
		{"a timer run ignores it", rotateAll, timerRun, 0, time.Minute, false, false, false, StatusRotated, 3},
		{"a manual run ignores it", rotateAll, rotateAll, 0, time.Minute, false, false, false, StatusRotated, 3},
		{"a new instance goes by the store's record", rotateAll, cloudEvent(fakeHosts), 0, time.Minute, true, true, false, StatusSkipped, 1},
		{"a new instance, the store keeps no record", rotateAll, cloudEvent(fakeHosts), 0, time.Minute, true, false, false, StatusRotated, 3},
		{"the store's record after the cooldown", rotateAll, cloudEvent(fakeHosts), 0, 5 * time.Minute, true, true, false, StatusRotated, 3},
		{"a refused write starts no cooldown", rotateAll, cloudEvent(fakeHosts), 0, time.Minute, false, false, true, StatusRotated, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWorld(t)
			f.store.keepsChanged = tc.storeRecord
			f.store.put("s", "", `{"auths":{}}`, time.Time{})
			if tc.refuseFirst {
				f.store.answer = func(op string, n int) error {
					if op == "write" && n == 1 {
						return apiError(400, "InvalidParameter", false)
					}
					return nil
				}
			}
			r := f.rotator("", "s")
			first := f.run(r, tc.first, 0, 0)
			if want := StatusRotated; tc.refuseFirst {
				if first.Failed != 1 {
					t.Fatalf("first run: %v, want the write refused", statusOf(first))
				}
			} else if first.Rotated != 1 {
				t.Fatalf("first run: %v, want %s", statusOf(first), want)
			}
			f.clock.Advance(tc.after)
			if tc.newInstance {
				r = f.rotator("", "s")
			}
			before := len(f.store.callsOf(""))
			rep := f.run(r, tc.second, tc.retry, 0)
			if got := statusOf(rep); !reflect.DeepEqual(got, []string{tc.want}) {
				t.Fatalf("second run: %v, want %s", got, tc.want)
			}
			if tc.want == StatusSkipped && rep.Results[0].Reason != ReasonCooldown {
				t.Errorf("skipped for %q", rep.Results[0].Reason)
			}
			if calls := len(f.store.callsOf("")) - before; tc.calls >= 0 && calls != tc.calls {
				t.Errorf("the second run made %d store calls, want %d", calls, tc.calls)
			}
		})
	}
	// The store's record counts only where every host of the source has an
	// entry: a recent edit that dropped one never hides it.
	f := newFakeWorld(t)
	f.store.keepsChanged = true
	f.store.put("s", "", `{"auths":{"other.example.com":{"auth":"eDp5"}}}`, f.clock.Now().Add(-time.Minute))
	f.store.put("held", "", changedHosts, f.clock.Now().Add(-time.Minute))
	rep := f.run(f.rotator("", "s", "held"), cloudEvent(fakeHosts), 0, 0)
	if got := statusOf(rep); !reflect.DeepEqual(got, []string{StatusRotated, StatusSkipped}) {
		t.Errorf("secrets changed a minute ago, one lacking a host of the source: %v, want it rotated and the other skipped", got)
	}
}

// A read-back that lags behind the write is read again after 0.25, 0.5, 1
// and 2 s; one that still differs after five reads fails
// VerificationFailed.
func TestVerifyRetries(t *testing.T) {
	delays := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	for lag := 0; lag <= len(delays); lag++ {
		t.Run(fmt.Sprint(lag, " lagging read-backs"), func(t *testing.T) {
			f := newFakeWorld(t)
			f.store.latency = 100 * time.Millisecond
			f.store.put("s", "", `{"auths":{}}`, time.Time{})
			f.store.lagBacks = lag
			rep := f.run(f.rotator("", "s"), rotateAll, 0, 0)
			want, backs := StatusRotated, lag+1
			if lag == len(delays) {
				want, backs = string(VerificationFailed), len(delays)
			}
			if got := statusOf(rep); !reflect.DeepEqual(got, []string{want}) {
				t.Fatalf("%v, want %s", got, want)
			}
			rb := f.store.callsOf("readback")
			if len(rb) != backs {
				t.Fatalf("%d read-backs, want %d", len(rb), backs)
			}
			for i := 1; i < len(rb); i++ {
				if gap := rb[i].at.Sub(rb[i-1].at); gap != delays[i]+f.store.latency {
					t.Errorf("read-back %d came %v after the one before, want %v", i+1, gap, delays[i]+f.store.latency)
				}
			}
		})
	}
}

// A read that lags behind this invocation's own write of the secret (a
// second target's hosts on it) is read again as verification does, never
// merged onto; one that lags for good fails VerificationFailed, and every
// host written holds its token.
func TestLaggingReadRule(t *testing.T) {
	for _, tc := range []struct {
		lag  int
		want []string
	}{
		{0, []string{StatusRotated, StatusRotated}},
		{2, []string{StatusRotated, StatusRotated}},
		{5, []string{StatusRotated, string(VerificationFailed)}},
	} {
		t.Run(fmt.Sprint(tc.lag, " lagging reads"), func(t *testing.T) {
			f := newFakeWorld(t)
			f.store.put("s", "", `{"auths":{}}`, time.Time{})
			f.store.answer = func(op string, n int) error {
				if op == "readback" && n == 1 {
					f.store.mu.Lock()
					f.store.lagReads = tc.lag // from the first write's verification on
					f.store.mu.Unlock()
				}
				return nil
			}
			r := f.rotatorOf(`"concurrency":1`, target("a", "a.example.com", "s"), target("b", "b.example.com", "s"))
			rep := f.run(r, rotateAll, 0, 0)
			if got := statusOf(rep); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
			if !holds(f.store.config("s"), []string{"a.example.com"}, "fake-token-1-of-the-source") {
				t.Errorf("the second target's write undid the first's: %s", f.store.config("s"))
			}
			// The first target's read serves the second's resolution; the
			// second's write reads after the first's write, again while it lags.
			if reads, want := len(f.store.callsOf("read")), 1+min(tc.lag+1, 5); reads != want {
				t.Errorf("%d reads, want %d: the lagging ones read again", reads, want)
			}
		})
	}
}

// Calls are retried: HTTP 5xx answers 5 times, calls without an answer
// twice, both spaced by a growing backoff; a refusal never.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		failures int
		want     string
		tries    int
	}{
		{"5xx, five times", apiError(503, "ServiceUnavailable", false), 5, StatusRotated, 6},
		{"5xx, six times", apiError(503, "ServiceUnavailable", false), 6, string(UpdateFailed), 6},
		{"no answer, twice", apiError(0, "", false), 2, StatusRotated, 3},
		{"no answer, three times", apiError(0, "", false), 3, string(UpdateFailed), 3},
		{"refused", apiError(400, "InvalidParameter", false), 1, string(UpdateFailed), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWorld(t)
			f.store.latency = 10 * time.Millisecond
			f.store.put("s", "", `{"auths":{}}`, time.Time{})
			f.store.answer = func(op string, n int) error {
				if op == "write" && n <= tc.failures {
					return tc.err
				}
				return nil
			}
			rep := f.run(f.rotator("", "s"), rotateAll, 0, 0)
			if got := statusOf(rep); !reflect.DeepEqual(got, []string{tc.want}) {
				t.Fatalf("%v, want %s", got, tc.want)
			}
			writes := f.store.callsOf("write")
			if len(writes) != tc.tries {
				t.Fatalf("%d writes, want %d", len(writes), tc.tries)
			}
			// The backoff: 200 ms, doubling, ±50%.
			base := 200 * time.Millisecond
			for i := 1; i < len(writes); i++ {
				gap := writes[i].at.Sub(writes[i-1].at) - f.store.latency
				if gap < base/2 || gap > base*3/2 {
					t.Errorf("try %d came %v after the one before, want %v ±50%%", i+1, gap, base)
				}
				base = min(2*base, 5*time.Second)
			}
		})
	}
}

// Work that cannot finish before the deadline is reported DeadlineExceeded
// and never left half-written: not started, not written, or written and
// said so.
func TestDeadlineRule(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		slowRead time.Duration // a read takes this much longer than the store's latency
		lagBacks int
		writes   int
		message  string
	}{
		{"no time to start", time.Second, 0, 0, 0, "not started"},
		{"no time for the write and its verification after a slow read", 6 * time.Second, 3 * time.Second, 0, 0, "not written"},
		{"the read-backs go past the deadline", 3 * time.Second, 0, 10, 1, "written, but the deadline came"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWorld(t)
			f.store.latency = 100 * time.Millisecond
			f.store.put("s", "", `{"auths":{}}`, time.Time{})
			f.store.lagBacks = tc.lagBacks
			f.store.answer = func(op string, n int) error {
				if op == "read" {
					f.clock.Advance(tc.slowRead)
				}
				return nil
			}
			rep := f.run(f.rotator("", "s"), rotateAll, 0, tc.deadline)
			if got := statusOf(rep); !reflect.DeepEqual(got, []string{string(DeadlineExceeded)}) {
				t.Fatalf("%v, want DeadlineExceeded", got)
			}
			if msg := rep.Results[0].Error.Message; !strings.Contains(msg, tc.message) {
				t.Errorf("message %q, want it to say %q", msg, tc.message)
			}
			if writes := len(f.store.callsOf("write")); writes != tc.writes {
				t.Errorf("%d writes, want %d", writes, tc.writes)
			}
			if landed := rep.Results[0].Registries != nil; landed != (tc.writes > 0) {
				t.Errorf("registries %v: a result names them only where its write may have landed", rep.Results[0].Registries)
			}
		})
	}
}
