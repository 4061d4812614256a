package pacer

import (
	"context"
	"testing"
	"time"
)

func TestNewStaysUnderQuota(t *testing.T) {
	for _, tc := range []struct {
		calls int
		per   time.Duration
	}{{60, time.Minute}, {60, time.Second}, {10, time.Second}, {3, time.Second}, {1000, time.Minute}} {
		p := New(tc.calls, tc.per)
		worst := float64(p.lim.Burst()) + p.Rate()*tc.per.Seconds()
		if worst > float64(tc.calls) {
			t.Errorf("quota %d/%v: burst %d + rate %.3f/s allows %.1f calls a window", tc.calls, tc.per, p.lim.Burst(), p.Rate(), worst)
		}
		if p.lim.Burst() < 1 {
			t.Errorf("quota %d/%v: burst %d", tc.calls, tc.per, p.lim.Burst())
		}
	}
}

func TestBurstServesASmallRotationWithoutWaiting(t *testing.T) {
	p := New(60, time.Minute)
	start := time.Now()
	for range 3 {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("three calls waited %v", d)
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func approx(a, b float64) bool           { return a-b < 1e-9 && b-a < 1e-9 }

func TestAIMD(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	p := newAt(60, time.Minute, clock.now)
	ceiling := p.Rate()

	p.Throttled()
	if got := p.Rate(); !approx(got, ceiling/2) {
		t.Fatalf("after a throttle the rate is %.4f, want %.4f", got, ceiling/2)
	}
	if d := p.Delay(1); d < 59*time.Second {
		t.Fatalf("after a throttle calls wait %v, want the rest of the window", d)
	}
	// The throttles of calls already in flight are the same news.
	for range 4 {
		p.Throttled()
	}
	if got := p.Rate(); !approx(got, ceiling/2) {
		t.Fatalf("in-flight throttles cut the rate again: %.4f", got)
	}
	// A throttle in a later window cuts again, down to the floor at most.
	for range 10 {
		clock.add(time.Minute)
		p.Throttled()
	}
	if got := p.Rate(); !approx(got, ceiling/16) {
		t.Fatalf("rate %.5f, want the floor %.5f", got, ceiling/16)
	}
	// Climbing: a tenth of the ceiling per window without a throttle, not per call.
	clock.add(time.Minute)
	for range 100 {
		p.Succeeded()
	}
	if got := p.Rate(); !approx(got, ceiling/16+ceiling/10) {
		t.Fatalf("after one quiet window the rate is %.5f, want %.5f", got, ceiling/16+ceiling/10)
	}
	clock.add(20 * time.Minute)
	p.Succeeded()
	if got := p.Rate(); !approx(got, ceiling) {
		t.Fatalf("rate %.4f did not climb back to the ceiling %.4f", got, ceiling)
	}
}

func TestPausedWaitEndsWithTheContext(t *testing.T) {
	p := New(60, time.Minute)
	p.Throttled()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("a paced call went out during the pause")
	}
}

func TestDelay(t *testing.T) {
	p := New(60, time.Minute)
	if d := p.Delay(1); d != 0 {
		t.Fatalf("a fresh pacer delays one call by %v", d)
	}
	if d := p.Delay(100); d < time.Minute {
		t.Fatalf("100 calls under a 60/min quota delay only %v", d)
	}
}
