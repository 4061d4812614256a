package rotation

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waits records what OnWait is told.
type waits struct {
	mu   sync.Mutex
	list []struct {
		d   time.Duration
		why string
	}
}

func (w *waits) hook() waitOption {
	return onWait(func(d time.Duration, why string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.list = append(w.list, struct {
			d   time.Duration
			why string
		}{d, why})
	})
}

func TestOnWaitTellsTheQuotaWait(t *testing.T) {
	p, clock := fakePacer(60, time.Second, time.Second) // a burst of 5, then 54 a second
	var w waits
	for range p.lim.Burst() {
		if err := p.wait(context.Background(), 0, w.hook()); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.list) != 0 {
		t.Fatalf("the burst waited: %+v", w.list)
	}
	start := clock.Now()
	if err := p.wait(context.Background(), 0, w.hook()); err != nil {
		t.Fatal(err)
	}
	took := clock.Now().Sub(start)
	if len(w.list) != 1 || w.list[0].why != waitQuota {
		t.Fatalf("the call past the burst was told %+v, want one %q wait", w.list, waitQuota)
	}
	// One token at 54 a second is about 18.5 ms away.
	if d := w.list[0].d; d < 18*time.Millisecond || d > 19*time.Millisecond || took != d {
		t.Errorf("told a wait of %v, the call waited %v; want about 18.5ms for both", d, took)
	}
}

func TestOnWaitTellsTheThrottlePause(t *testing.T) {
	const base = 40 * time.Millisecond
	for _, tc := range []struct {
		name     string
		maxPause time.Duration
		lo, hi   time.Duration
	}{{"whole pause", 0, 3 * base / 4, 5 * base / 4}, {"bounded by maxPause", 10 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			p, clock := fakePacer(60, time.Minute, base)
			p.throttled()
			var w waits
			start := clock.Now()
			if err := p.wait(context.Background(), tc.maxPause, w.hook()); err != nil {
				t.Fatal(err)
			}
			// A bounded pause may hold the call again after its token.
			if len(w.list) == 0 {
				t.Fatal("a throttled call was told of no wait")
			}
			var told time.Duration
			for _, x := range w.list {
				if x.why != waitThrottle || x.d < tc.lo || x.d > tc.hi {
					t.Errorf("told %v for %q, want a %q pause within [%v, %v]", x.d, x.why, waitThrottle, tc.lo, tc.hi)
				}
				told += x.d
			}
			if took := clock.Now().Sub(start); took != told {
				t.Errorf("told pauses of %v in all, the call waited %v", told, took)
			}
		})
	}
}

// A wait that cannot end before the deadline is not made, and not told.
func TestOnWaitQuietWhenNoTime(t *testing.T) {
	p := newTestPacer(60, time.Minute, 10*time.Second)
	p.throttled()
	var w waits
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.wait(ctx, 0, w.hook()); !errors.Is(err, errNoTime) {
		t.Fatalf("Wait = %v, want errNoTime", err)
	}
	if len(w.list) != 0 {
		t.Errorf("told %+v of a wait that was not made", w.list)
	}
}

// A call refused for lack of time gives its token back: the next caller
// with time to spare is not held for it.
func TestRefusedWaitGivesItsTokenBack(t *testing.T) {
	p := newTestPacer(60, time.Minute, time.Second)
	for range p.lim.Burst() {
		if err := p.wait(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	before := p.delay(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.wait(ctx, 0); !errors.Is(err, errNoTime) {
		t.Fatalf("Wait = %v, want errNoTime", err)
	}
	if after := p.delay(1); after > before+50*time.Millisecond {
		t.Errorf("the next call waits %v after a refused one, %v before it", after, before)
	}
}
