// Package pacer keeps one process's calls to a quota-bound API under the
// account's quota, and adapts when other callers share that quota.
package pacer

import (
	"context"
	"math"
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

// Headroom is the share of the quota the pacer spends when nothing else
// uses it: the rest absorbs clock skew between our window and the server's.
const Headroom = 0.85

// New paces calls to at most Headroom × calls per `per`, with a burst small
// enough that burst + a window's sustained calls stay under the quota, and
// large enough that a one-secret rotation (two or three calls) never waits.
func New(calls int, per time.Duration) *Pacer {
	if calls <= 0 || per <= 0 {
		return &Pacer{lim: rate.NewLimiter(rate.Inf, 1), ceiling: rate.Inf, floor: rate.Inf, now: time.Now}
	}
	perSec := float64(calls) / per.Seconds()
	sustained := perSec * Headroom
	burst := int(math.Floor(float64(calls) * (1 - Headroom)))
	burst = max(1, min(burst, 5))
	// With a burst, a window can see burst + sustained×window calls: keep that under the quota.
	if b := float64(burst) + sustained*per.Seconds(); b > float64(calls) {
		sustained = (float64(calls) - float64(burst)) / per.Seconds()
	}
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
