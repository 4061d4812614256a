package rotation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"
)

// pacer keeps one process's calls to a quota-bound API under the account's
// quota, and adapts when other callers share that quota. It is a token
// bucket with a fixed ceiling under the quota and an adaptive rate below it:
// multiplicative decrease when the server throttles, additive increase while
// it does not. One pacer serves every goroutine of a process: the quota is
// per account.
//
// A throttled answer also holds every call for a short, jittered pause that
// grows only while throttling goes on: about one base wait after a first
// throttle, doubling with each throttle that follows before a call gets
// through, up to maxPauseBases base waits.
type pacer struct {
	mu         sync.Mutex
	lim        *rate.Limiter
	ceiling    rate.Limit // never exceeded
	floor      rate.Limit // never gone under, so a throttled run still ends
	step       rate.Limit // additive increase per window without a throttle
	window     time.Duration
	base       time.Duration // the first pause after a throttle
	streak     int           // throttles since the last call that got through
	lastCut    time.Time
	lastClimb  time.Time
	pauseUntil time.Time
	clock      Clock
	jitter     func() float64 // in [0, 1)
}

// maxBurst is the most calls sent back to back: enough that a one-secret
// rotation (a read, a write, a verification) never waits.
const maxBurst = 5

// maxPauseBases bounds the pause that a run of throttles grows to, in base waits.
const maxPauseBases = 30

// errNoTime is returned (wrapping context.DeadlineExceeded) when the quota
// or a throttle pause would let the call out only after ctx's deadline.
var errNoTime = fmt.Errorf("%w: the quota lets the call out only after the deadline", context.DeadlineExceeded)

// newPacer paces calls so that no window of length per ever holds more
// than `calls` of them: a burst of up to maxBurst (a twelfth of the quota at
// most), then a sustained rate of (calls - burst - 1) per `per`, the one
// call spare absorbing network jitter that bunches arrivals. For SAE's 60 a
// minute that is 5 at once, then 54 a minute: 90% of the quota over a long
// run, and no throttled call while nobody else spends the quota. base is
// the first pause after a throttled answer. calls <= 0 means no quota.
func newPacer(calls int, per, base time.Duration, clock Clock) *pacer {
	p := &pacer{base: base, clock: clock, jitter: rand.Float64}
	burst, ceiling := pace(calls, per)
	if ceiling == rate.Inf {
		p.lim, p.ceiling, p.floor = rate.NewLimiter(rate.Inf, 1), rate.Inf, rate.Inf
		return p
	}
	p.lim, p.ceiling, p.floor, p.step, p.window = rate.NewLimiter(ceiling, burst), ceiling, ceiling/16, ceiling/10, per
	return p
}

// pace is the burst and the sustained rate of a quota (newPacer).
func pace(calls int, per time.Duration) (burst int, ceiling rate.Limit) {
	if calls <= 0 || per <= 0 {
		return 1, rate.Inf
	}
	burst = max(1, min(maxBurst, calls/12))
	return burst, rate.Limit(float64(max(1, calls-burst-1)) / per.Seconds())
}

// Pace tells how the engine paces a store's quota of calls per per: the
// calls it sends back to back, and its sustained rate in calls a second.
func Pace(calls int, per time.Duration) (burst int, perSecond float64) {
	b, l := pace(calls, per)
	return b, float64(l)
}

// Why a call waits, as onWait tells it.
const (
	waitQuota    = "quota"    // the pace below the quota
	waitThrottle = "throttle" // the pause after a throttled answer
)

// waitOption configures one wait.
type waitOption func(*waitOptions)

type waitOptions struct {
	clock  Clock
	onWait func(d time.Duration, why string)
}

// onWait has wait call f before each wait it makes, with its length and
// why (waitQuota or waitThrottle), so that a slow run can say what it waits for.
func onWait(f func(d time.Duration, why string)) waitOption {
	return func(o *waitOptions) { o.onWait = f }
}

// sleep is the clock's sleep that tells onWait of a wait it will make.
func (o *waitOptions) sleep(ctx context.Context, d time.Duration, why string) error {
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && o.clock.Now().Add(d).After(dl) {
		return errNoTime
	}
	if o.onWait != nil {
		o.onWait(d, why)
	}
	return o.clock.Sleep(ctx, d)
}

// wait blocks until one call may go out, or ctx ends. maxWait (0: no
// bound) bounds the whole wait: a throttle pause, the rate, and a pause that
// a throttle seen meanwhile begins. An emergency caller never waits longer
// between tries, whatever holds it; a call let out before the rate would
// have is still counted by it, so the calls after it wait the longer.
func (p *pacer) wait(ctx context.Context, maxWait time.Duration, opts ...waitOption) error {
	o := waitOptions{clock: p.clock}
	for _, opt := range opts {
		opt(&o)
	}
	bound := func(d time.Duration) time.Duration { return d }
	if maxWait > 0 {
		until := p.clock.Now().Add(maxWait)
		bound = func(d time.Duration) time.Duration { return min(d, until.Sub(p.clock.Now())) }
	}
	if err := p.pause(ctx, bound, &o); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := p.clock.Now()
	r := p.lim.ReserveN(now, 1) // never refused: the burst is at least 1
	if err := o.sleep(ctx, bound(r.DelayFrom(now)), waitQuota); err != nil {
		r.CancelAt(p.clock.Now()) // the token goes back: the call is not sent
		return err
	}
	// A throttle seen while this call waited holds it too.
	return p.pause(ctx, bound, &o)
}

func (p *pacer) pause(ctx context.Context, bound func(time.Duration) time.Duration, o *waitOptions) error {
	p.mu.Lock()
	d := p.pauseUntil.Sub(p.clock.Now())
	p.mu.Unlock()
	return o.sleep(ctx, bound(d), waitThrottle)
}

// delay estimates how long n calls would wait now, without taking tokens.
func (p *pacer) delay(n int) time.Duration {
	now := p.clock.Now()
	p.mu.Lock()
	paused := max(0, p.pauseUntil.Sub(now))
	p.mu.Unlock()
	if p.lim.Limit() == rate.Inf {
		return paused
	}
	missing := float64(n) - p.lim.TokensAt(now)
	if missing <= 0 {
		return paused
	}
	return paused + time.Duration(missing/float64(p.lim.Limit())*float64(time.Second))
}

// throttled reacts to the server saying the shared quota is spent: calls
// pause for a jittered base wait, twice as long for each further throttle
// before a call gets through; the rate halves, once a window, since the
// throttles of calls already in flight are the same news.
func (p *pacer) throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	p.streak++
	pause := p.base << min(p.streak-1, 16)
	pause = min(pause, maxPauseBases*p.base)
	// Jitter of ±25%, so instances sharing the quota do not retry in step.
	pause = time.Duration(float64(pause) * (0.75 + 0.5*p.jitter()))
	if until := now.Add(pause); until.After(p.pauseUntil) {
		p.pauseUntil = until
	}
	if p.ceiling == rate.Inf || (!p.lastCut.IsZero() && now.Sub(p.lastCut) < p.window) {
		return
	}
	p.lastCut, p.lastClimb = now, now
	p.lim.SetLimitAt(now, max(p.floor, p.lim.Limit()/2))
}

// succeeded ends a run of throttles and climbs back towards the ceiling, a
// tenth of it per window without a throttle: slowly, so callers sharing the
// quota settle below it.
func (p *pacer) succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streak = 0
	if p.ceiling == rate.Inf {
		return
	}
	now := p.clock.Now()
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

// rate is the current rate in calls per second.
func (p *pacer) rate() float64 { return float64(p.lim.Limit()) }

// Around the pacer, what a lane knows of its calls and says of its waits.

// latency tracks a slow-moving estimate of one API call's duration, to
// judge whether a secret can still finish before the deadline.
type latency struct {
	mu  sync.Mutex
	est time.Duration
}

// observe adds a call's duration to the estimate.
func (l *latency) observe(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.est == 0 {
		l.est = d
		return
	}
	// Rise fast, fall slowly: an underestimate risks a write cut short.
	if d > l.est {
		l.est = (l.est + d) / 2
	} else {
		l.est = (7*l.est + d) / 8
	}
}

// get is the estimate: 300ms before any call is seen.
func (l *latency) get() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.est == 0 {
		return 300 * time.Millisecond
	}
	return l.est
}

// longWait is a pacer wait long enough to say at info level: a run that
// waits this long would otherwise look stuck.
const longWait = 5 * time.Second

// logWait says why a call on a lane waits, and for how long: the quota's
// pace or a throttle pause (waitQuota, waitThrottle).
func (w *invocation) logWait(ln *lane, api string) func(time.Duration, string) {
	return func(d time.Duration, why string) {
		lvl := zapcore.DebugLevel
		if d > longWait {
			lvl = zapcore.InfoLevel
		}
		w.log.Log(lvl, "waiting for the pacer", zap.String("pacer", ln.name), zap.String("api", api), zap.Duration("wait", d), zap.String("why", why))
	}
}

// deadline words a call that the invocation's deadline stopped.
func (w *invocation) deadline(api string, err error) error {
	if CodeOf(err) != "" {
		return err
	}
	if errors.Is(err, errNoTime) {
		return errorf(DeadlineExceeded, "%s not sent: the quota or a throttle pause would let it out only after the invocation's deadline", api)
	}
	return errorf(DeadlineExceeded, "%s did not finish before the invocation's deadline", api)
}
