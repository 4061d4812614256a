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

func TestAIMD(t *testing.T) {
	p := New(60, time.Minute)
	ceiling := p.Rate()
	p.Throttled()
	if got := p.Rate(); got != ceiling/2 {
		t.Fatalf("after one throttle the rate is %.4f, want %.4f", got, ceiling/2)
	}
	for range 100 {
		p.Throttled()
	}
	if got := p.Rate(); got < ceiling/16-1e-9 {
		t.Fatalf("rate %.5f fell under the floor %.5f", got, ceiling/16)
	}
	for range 100 {
		p.Succeeded()
	}
	if got := p.Rate(); got != ceiling {
		t.Fatalf("rate %.4f did not climb back to the ceiling %.4f", got, ceiling)
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
