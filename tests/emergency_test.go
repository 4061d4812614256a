package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// The emergency promise, in real time as a user meets it: SAE's real quota,
// the production throttleWait (1 s), and throttling that never ends. No
// wait between two tries of the write is over about five seconds (the
// pacer's hold after a throttle included), and the run gives up, Throttled,
// within a minute of its delivery. Read from the emulator's call log. The
// run lasts about a minute.
func TestEmergencyPromiseUnscaled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	w.emu.SetQuota(60, time.Minute)
	w.emu.SetFault("UpdateSecret", emulator.Fault{Throttle: 1 << 20})
	f := w.start(`{"targets":[` + target("prod-pull", byID(nsProd, id)) + `]}`)
	// Sent before the delivery: every time below is, if anything, too long.
	delivered := time.Now()
	rep, failed := f.invoke(`{"action":"rotate","emergency":true,"reason":"token leaked"}`, 5*time.Minute)
	answered := time.Since(delivered)
	if !failed || len(rep.Results) != 1 || rep.Results[0].Error == nil || rep.Results[0].Error.Code != rotation.Throttled {
		w.guard.Fatalf("report: %+v", rep)
	}
	if msg := rep.Results[0].Error.Message; !strings.Contains(msg, "throttled") || !strings.Contains(msg, "emergency") {
		t.Errorf("the message %q does not say that throttling is why", msg)
	}
	tries := w.calls("UpdateSecret")
	if len(tries) < 10 {
		t.Errorf("%d tries of the write in a minute, want one every few seconds", len(tries))
	}
	if len(tries) < 2 {
		t.FailNow()
	}
	const maxGap = 5*time.Second + 500*time.Millisecond // five seconds, and the tries' own round trips
	var longest time.Duration
	for i := 1; i < len(tries); i++ {
		gap := tries[i].Time.Sub(tries[i-1].Time)
		longest = max(longest, gap)
		if gap > maxGap {
			t.Errorf("%v between try %d and try %d of the write, want at most about 5s", gap.Round(time.Millisecond), i, i+1)
		}
	}
	last := tries[len(tries)-1].Time.Sub(delivered)
	t.Logf("%d tries, at most %v apart; the last %v after the delivery, the report after %v",
		len(tries), longest.Round(time.Millisecond), last.Round(time.Millisecond), answered.Round(time.Millisecond))
	if last > time.Minute || last < 50*time.Second {
		t.Errorf("the last try went out %v after the delivery, want within a minute (and not long before)", last.Round(time.Millisecond))
	}
	if answered > time.Minute+time.Second {
		t.Errorf("the run answered %v after its delivery, want within a minute", answered.Round(time.Millisecond))
	}
}
