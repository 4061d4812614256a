// Package pacer keeps one process's calls to a quota-bound API under the
// account's quota, and adapts when other callers share that quota.
package pacer

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer is a token bucket with a fixed ceiling under the quota and an
// adaptive rate below it: multiplicative decrease when the server throttles,
// additive increase while it does not. One Pacer serves every goroutine of
// a process: the quota is per account.
type Pacer struct {
	mu         sync.Mutex
	lim        *rate.Limiter
	ceiling    rate.Limit // never exceeded
	floor      rate.Limit // never gone under, so a throttled run still ends
	step       rate.Limit // additive increase per window without a throttle
	window     time.Duration
	lastCut    time.Time
	lastClimb  time.Time
	pauseUntil time.Time
	now        func() time.Time
}

// MaxBurst is the most calls sent back to back: enough that a one-secret
// rotation (a read, a write, a verification) never waits.
const MaxBurst = 5

// New paces calls so that no window of length per ever holds more than
// `calls` of them: a burst of up to MaxBurst (a twelfth of the quota at
// most), then a sustained rate of (calls - burst - 1) per `per`, the one
// call spare absorbing network jitter that bunches arrivals. For SAE's 60 a
// minute that is 5 at once, then 54 a minute: 90% of the quota over a long
// run, and no throttled call while nobody else spends the quota.
func New(calls int, per time.Duration) *Pacer {
	return newAt(calls, per, time.Now)
}

func newAt(calls int, per time.Duration, now func() time.Time) *Pacer {
	if calls <= 0 || per <= 0 {
		return &Pacer{lim: rate.NewLimiter(rate.Inf, 1), ceiling: rate.Inf, floor: rate.Inf, now: now}
	}
	burst := max(1, min(MaxBurst, calls/12))
	ceiling := rate.Limit(float64(max(1, calls-burst-1)) / per.Seconds())
	return &Pacer{
		lim:     rate.NewLimiter(ceiling, burst),
		ceiling: ceiling,
		floor:   ceiling / 16,
		step:    ceiling / 10,
		window:  per,
		now:     now,
	}
}

// Wait blocks until one call may go out, or ctx ends.
func (p *Pacer) Wait(ctx context.Context) error {
	if err := p.pause(ctx); err != nil {
		return err
	}
	if err := p.lim.Wait(ctx); err != nil {
		return err
	}
	// A throttle seen while this call waited holds it too: the window is spent.
	return p.pause(ctx)
}

func (p *Pacer) pause(ctx context.Context) error {
	p.mu.Lock()
	d := p.pauseUntil.Sub(p.now())
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Delay estimates how long n calls would wait now, without taking tokens.
func (p *Pacer) Delay(n int) time.Duration {
	p.mu.Lock()
	paused := max(0, p.pauseUntil.Sub(p.now()))
	p.mu.Unlock()
	if p.lim.Limit() == rate.Inf {
		return paused
	}
	missing := float64(n) - p.lim.Tokens()
	if missing <= 0 {
		return paused
	}
	return paused + time.Duration(missing/float64(p.lim.Limit())*float64(time.Second))
}

// Throttled reacts to the server saying the shared quota is spent: the
// rate halves and calls pause for a window, so the server's window empties.
// The throttles of the calls already in flight are the same news: one cut a
// window.
func (p *Pacer) Throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ceiling == rate.Inf {
		return
	}
	now := p.now()
	if !p.lastCut.IsZero() && now.Sub(p.lastCut) < p.window {
		return
	}
	p.lastCut, p.lastClimb = now, now
	p.lim.SetLimitAt(now, max(p.floor, p.lim.Limit()/2))
	p.pauseUntil = now.Add(p.window)
}

// Succeeded climbs back towards the ceiling, a tenth of it per window
// without a throttle: slowly, so callers sharing the quota settle below it.
func (p *Pacer) Succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ceiling == rate.Inf {
		return
	}
	now := p.now()
	l := p.lim.Limit()
	if l >= p.ceiling {
		return
	}
	if p.lastClimb.IsZero() {
		p.lastClimb = now
	}
	if windows := int(now.Sub(p.lastClimb) / p.window); windows > 0 {
		p.lim.SetLimitAt(now, min(p.ceiling, l+rate.Limit(windows)*p.step))
		p.lastClimb = p.lastClimb.Add(time.Duration(windows) * p.window)
	}
}

// Rate is the current rate in calls per second.
func (p *Pacer) Rate() float64 { return float64(p.lim.Limit()) }
