package rotation

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNewStaysUnderQuota(t *testing.T) {
	for _, tc := range []struct {
		calls int
		per   time.Duration
	}{{60, time.Minute}, {60, time.Second}, {10, time.Second}, {3, time.Second}, {1000, time.Minute}} {
		p := newTestPacer(tc.calls, tc.per, time.Second)
		worst := float64(p.lim.Burst()) + p.rate()*tc.per.Seconds()
		if worst > float64(tc.calls) {
			t.Errorf("quota %d/%v: burst %d + rate %.3f/s allows %.1f calls a window", tc.calls, tc.per, p.lim.Burst(), p.rate(), worst)
		}
		if p.lim.Burst() < 1 {
			t.Errorf("quota %d/%v: burst %d", tc.calls, tc.per, p.lim.Burst())
		}
	}
}

func TestBurstServesASmallRotationWithoutWaiting(t *testing.T) {
	p, clock := fakePacer(60, time.Minute, time.Second)
	start := clock.Now()
	for range 3 {
		if err := p.wait(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	if d := clock.Now().Sub(start); d != 0 {
		t.Fatalf("three calls waited %v", d)
	}
}

// newTestPacer is a pacer on the wall clock, as production has it.
func newTestPacer(calls int, per, base time.Duration) *pacer {
	return newPacer(calls, per, base, wallClock{})
}

func approx(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// fakePacer runs on a clock the test moves (or its waits move), without
// jitter unless it sets one.
func fakePacer(calls int, per, base time.Duration) (*pacer, *fakeClock) {
	clock := newFakeClock()
	p := newPacer(calls, per, base, clock)
	p.jitter = func() float64 { return 0.5 } // a factor of exactly 1
	return p, clock
}

func TestAIMD(t *testing.T) {
	p, clock := fakePacer(60, time.Minute, time.Second)
	ceiling := p.rate()

	p.throttled()
	if got := p.rate(); !approx(got, ceiling/2) {
		t.Fatalf("after a throttle the rate is %.4f, want %.4f", got, ceiling/2)
	}
	// The throttles of calls already in flight are the same news.
	for range 4 {
		p.throttled()
	}
	if got := p.rate(); !approx(got, ceiling/2) {
		t.Fatalf("in-flight throttles cut the rate again: %.4f", got)
	}
	// A throttle in a later window cuts again, down to the floor at most.
	for range 10 {
		clock.Advance(time.Minute)
		p.throttled()
	}
	if got := p.rate(); !approx(got, ceiling/16) {
		t.Fatalf("rate %.5f, want the floor %.5f", got, ceiling/16)
	}
	// Climbing: a tenth of the ceiling per window without a throttle, not per call.
	clock.Advance(time.Minute)
	for range 100 {
		p.succeeded()
	}
	if got := p.rate(); !approx(got, ceiling/16+ceiling/10) {
		t.Fatalf("after one quiet window the rate is %.5f, want %.5f", got, ceiling/16+ceiling/10)
	}
	clock.Advance(20 * time.Minute)
	p.succeeded()
	if got := p.rate(); !approx(got, ceiling) {
		t.Fatalf("rate %.4f did not climb back to the ceiling %.4f", got, ceiling)
	}
}

// TestThrottlePause: about one base wait after a first throttle, twice as
// long for each throttle that follows before a success, up to maxPauseBases base
// waits; a success starts over.
func TestThrottlePause(t *testing.T) {
	const base = time.Second
	p, clock := fakePacer(60, time.Minute, base)
	if d := p.delay(0); d != 0 {
		t.Fatalf("a fresh pacer pauses %v", d)
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 16, maxPauseBases, maxPauseBases} {
		p.throttled()
		if d := p.delay(0); d != want*base {
			t.Fatalf("after throttle %d the pause is %v, want %v", i+1, d, want*base)
		}
		clock.Advance(p.delay(0)) // the pause ends; the retry is throttled again
	}
	p.succeeded()
	p.throttled()
	if d := p.delay(0); d != base {
		t.Fatalf("the first throttle after a success pauses %v, want %v", d, base)
	}
	// A short pause never cuts a longer one that is still running.
	p, _ = fakePacer(60, time.Minute, base)
	for range 3 {
		p.throttled()
	}
	p.succeeded()
	p.throttled()
	if d := p.delay(0); d != 4*base {
		t.Fatalf("a new throttle cut the running pause to %v, want %v", d, 4*base)
	}
}

func TestThrottlePauseJitter(t *testing.T) {
	const base = time.Second
	for _, tc := range []struct {
		jitter   float64
		min, max time.Duration
	}{{0, 750 * time.Millisecond, 750 * time.Millisecond}, {0.999999, 1249 * time.Millisecond, 1250 * time.Millisecond}} {
		p, _ := fakePacer(60, time.Minute, base)
		p.jitter = func() float64 { return tc.jitter }
		p.throttled()
		if d := p.delay(0); d < tc.min || d > tc.max {
			t.Errorf("jitter %v: pause %v, want within [%v, %v]", tc.jitter, d, tc.min, tc.max)
		}
	}
	// The real jitter: within ±25% of base, and not the same for every instance.
	seen := map[time.Duration]bool{}
	for range 20 {
		p := newPacer(60, time.Minute, base, &fakeClock{now: time.Unix(1_700_000_000, 0)})
		p.throttled()
		d := p.delay(0)
		if d < 3*base/4 || d > 5*base/4 {
			t.Fatalf("pause %v is not within ±25%% of %v", d, base)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatalf("20 pacers all paused %v: instances would retry in step", seen)
	}
}

func TestUnlimitedPacerStillPauses(t *testing.T) {
	const base = 50 * time.Millisecond
	p, clock := fakePacer(0, 0, base)
	if err := p.wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	p.throttled()
	if d := p.delay(1); d != base {
		t.Fatalf("after a throttle an unlimited pacer delays %v, want %v", d, base)
	}
	start := clock.Now()
	if err := p.wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if d := clock.Now().Sub(start); d != base {
		t.Fatalf("a call went out %v after a throttle, want %v", d, base)
	}
}

func TestMaxPauseBoundsTheWait(t *testing.T) {
	p, clock := fakePacer(60, time.Minute, 10*time.Second)
	p.throttled()
	start := clock.Now()
	if err := p.wait(context.Background(), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := clock.Now().Sub(start); d != 50*time.Millisecond {
		t.Fatalf("with maxPause 50ms a call waited %v after a throttle of 10s", d)
	}
}

// maxWait bounds the whole wait, not each part of it: a throttle pause, a
// drained quota at a halved rate, and the pause again would otherwise add up
// to several bounds (an emergency run once waited 10s with a bound of 5s).
func TestMaxWaitBoundsTheWholeWait(t *testing.T) {
	p, clock := fakePacer(60, time.Minute, 10*time.Second)
	for range p.lim.Burst() {
		if err := p.wait(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	p.throttled() // a pause of 10s, and the next token in about 2.2s
	const maxWait = 100 * time.Millisecond
	for i := range 3 {
		start := clock.Now()
		if err := p.wait(context.Background(), maxWait); err != nil {
			t.Fatal(err)
		}
		if d := clock.Now().Sub(start); d > maxWait {
			t.Fatalf("wait %d: %v with maxWait %v", i+1, d, maxWait)
		}
	}
	// The calls let out early were counted: the rate owes them.
	if tok := p.lim.TokensAt(clock.Now()); tok > -2 {
		t.Fatalf("after three calls let out early the limiter holds %.2f tokens, want at most -2", tok)
	}
}

func TestWaitPastTheDeadline(t *testing.T) {
	throttled := func() (*pacer, *fakeClock) {
		p, clock := fakePacer(60, time.Minute, 10*time.Second)
		p.throttled()
		return p, clock
	}
	drained := func() (*pacer, *fakeClock) {
		p, clock := fakePacer(60, time.Minute, time.Second)
		for range p.lim.Burst() {
			if err := p.wait(context.Background(), 0); err != nil {
				t.Fatal(err)
			}
		}
		return p, clock // the next token comes in about 1.1s
	}
	for _, tc := range []struct {
		name string
		p    func() (*pacer, *fakeClock)
	}{{"throttle pause", throttled}, {"quota", drained}} {
		t.Run(tc.name, func(t *testing.T) {
			p, clock := tc.p()
			// The deadline is judged by the fake clock, which started at the
			// wall clock's time: the context's own timer never fires here.
			ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(300*time.Millisecond))
			defer cancel()
			start := clock.Now()
			err := p.wait(ctx, 0)
			if !errors.Is(err, errNoTime) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait = %v, want errNoTime (a DeadlineExceeded)", err)
			}
			if d := clock.Now().Sub(start); d != 0 {
				t.Fatalf("Wait gave up after %v, not at once", d)
			}
		})
	}
}

func TestPausedWaitEndsWithTheContext(t *testing.T) {
	p := newTestPacer(60, time.Minute, 10*time.Second)
	p.throttled()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if err := p.wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a cancelled wait returned after %v", d)
	}
}

func TestDelay(t *testing.T) {
	p, _ := fakePacer(60, time.Minute, time.Second)
	if d := p.delay(1); d != 0 {
		t.Fatalf("a fresh pacer delays one call by %v", d)
	}
	if d := p.delay(100); d < time.Minute {
		t.Fatalf("100 calls under a 60/min quota delay only %v", d)
	}
}
