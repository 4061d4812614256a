// Package pacer keeps one process's calls to a quota-bound API under the
// account's quota, and adapts when other callers share that quota.
package pacer

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer is a token bucket with a fixed ceiling below the quota and an
// adaptive rate under it (additive increase, multiplicative decrease).
// One Pacer serves every goroutine of a process: the quota is per account.
type Pacer struct {
	mu      sync.Mutex
	lim     *rate.Limiter
	ceiling rate.Limit // never exceeded
	floor   rate.Limit // never gone under, so a throttled run still ends
	step    rate.Limit // additive increase per successful call
	now     func() time.Time
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
	if calls <= 0 || per <= 0 {
		return &Pacer{lim: rate.NewLimiter(rate.Inf, 1), ceiling: rate.Inf, floor: rate.Inf, now: time.Now}
	}
	burst := max(1, min(MaxBurst, calls/12))
	sustained := float64(max(1, calls-burst-1)) / per.Seconds()
	ceiling := rate.Limit(sustained)
	return &Pacer{
		lim:     rate.NewLimiter(ceiling, burst),
		ceiling: ceiling,
		floor:   ceiling / 16,
		step:    ceiling / 20,
		now:     time.Now,
	}
}

// Wait blocks until one call may go out, or ctx ends.
func (p *Pacer) Wait(ctx context.Context) error { return p.lim.Wait(ctx) }

// Delay estimates how long n calls would wait now, without taking tokens.
func (p *Pacer) Delay(n int) time.Duration {
	if p.lim.Limit() == rate.Inf {
		return 0
	}
	missing := float64(n) - p.lim.Tokens()
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(p.lim.Limit()) * float64(time.Second))
}

// Throttled halves the rate: the server said the shared quota is spent.
func (p *Pacer) Throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ceiling == rate.Inf {
		return
	}
	p.lim.SetLimit(max(p.floor, p.lim.Limit()/2))
}

// Succeeded climbs back towards the ceiling, slowly.
func (p *Pacer) Succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ceiling == rate.Inf {
		return
	}
	if l := p.lim.Limit(); l < p.ceiling {
		p.lim.SetLimit(min(p.ceiling, l+p.step))
	}
}

// Rate is the current rate in calls per second.
func (p *Pacer) Rate() float64 { return float64(p.lim.Limit()) }
