package rotation

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Retry budget of one API call: HTTP 5xx answers are retried up to
// maxRetries times with backoff, calls that got no answer at all (transport
// errors, timeouts: each costs a full apiTimeout) maxTransportRetries times.
// Throttled calls are retried until throttling has lasted giveUp base waits.
const (
	maxRetries          = 5
	maxTransportRetries = 2
)

// Throttling give-up times and the emergency pause bound, in throttleWait units.
const (
	giveUpNormal    = 180 // three minutes at the default 1s
	giveUpEmergency = 60  // one minute
	pauseEmergency  = 5   // five seconds
)

// lane is one path of calls: a store's (paced under its quota) or the
// sources' and registries' (unpaced). Lanes live as long as the process.
type lane struct {
	name    string
	pacer   *pacer
	latency latency
}

func newLane(name string, q port.Quota, throttleWait time.Duration, clock Clock) *lane {
	return &lane{name: name, pacer: newPacer(q.Calls, q.Per, throttleWait, clock)}
}

// throttling is how long one piece of work has met throttled answers: it
// outlives a call that a stale read restarted, so the give-up counts from
// the first throttle of the streak.
type throttling struct {
	since time.Time
	count int
	last  APIError  // the last throttled answer
	tried time.Time // when the last try went out
}

// call runs one API call on a lane with retries. api names it in logs and
// errors ("write").
func (w *invocation) call(ctx context.Context, ln *lane, api string, fn func(context.Context) error) error {
	return w.callThrottled(ctx, ln, api, &throttling{}, fn)
}

// throttlePolicy is how long this invocation's calls wait on throttling:
// the most a pause may hold one (0: as long as the pacer says) and when a
// call gives up.
func (w *invocation) throttlePolicy() (maxPause, giveUp time.Duration) {
	base := w.r.cfg.ThrottleWait.Duration
	if w.req.Emergency {
		return pauseEmergency * base, giveUpEmergency * base
	}
	return 0, giveUpNormal * base
}

func (w *invocation) callThrottled(ctx context.Context, ln *lane, api string, th *throttling, fn func(context.Context) error) error {
	maxPause, giveUp := w.throttlePolicy()
	server := newBackoff()
	noAnswer, failures := 0, 0
	for attempt := 1; ; attempt++ {
		// Also on entry: a write that stale reads kept re-entering has been
		// throttled for as long as its first throttle says.
		if err := w.givingUp(ln, api, th, maxPause, giveUp); err != nil {
			return err
		}
		if err := ln.pacer.wait(ctx, w.pauseLeft(th, maxPause), onWait(w.logWait(ln, api))); err != nil {
			return w.deadline(api, err)
		}
		start := w.r.clock.Now()
		err := fn(ctx)
		ln.latency.observe(w.r.clock.Now().Sub(start))
		if !errors.Is(err, errStale) {
			th.tried = start // a slot that carried a newer read instead is no try
		}
		if err == nil {
			ln.pacer.succeeded()
			*th = throttling{}
			return nil
		}
		var ae APIError
		switch {
		case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
			return w.deadline(api, err)
		case errors.Is(err, errStale), CodeOf(err) != "", !errors.As(err, &ae):
			return err
		}
		var wait time.Duration
		switch {
		case ae.Throttled():
			th.count++
			if th.since.IsZero() {
				th.since = w.r.clock.Now()
			}
			th.last = ae
			ln.pacer.throttled()
			if err := w.givingUp(ln, api, th, maxPause, giveUp); err != nil {
				return err
			}
		case ae.Transient() && ae.HTTPStatus() == 0:
			if noAnswer++; noAnswer > maxTransportRetries {
				return err
			}
			wait = server.NextBackOff()
		case ae.Transient():
			if failures++; failures > maxRetries {
				return err
			}
			wait = server.NextBackOff()
		default:
			return err
		}
		w.log.Warn("API call failed, retrying", zap.String("api", api), zap.Int("attempt", attempt),
			zap.String("code", ae.ErrorCode()), zap.Int("httpStatus", ae.HTTPStatus()), zap.String("reason", w.redact.clean(ae.Error())),
			zap.Duration("wait", max(wait, nextWait(ln, w.pauseLeft(th, maxPause)))))
		if err := sleep(ctx, w.r.clock, wait); err != nil {
			return w.deadline(api, err)
		}
	}
}

// pauseLeft bounds the pacer's hold on the next try of a throttled piece of
// work (0: no bound). It counts from the last try, so that a read renewed in
// between spends the same pause instead of adding its own.
func (w *invocation) pauseLeft(th *throttling, maxPause time.Duration) time.Duration {
	if maxPause <= 0 || th.tried.IsZero() {
		return maxPause
	}
	return max(maxPause-w.r.clock.Now().Sub(th.tried), time.Nanosecond)
}

// givingUp ends a piece of work whose throttling would last past giveUp
// with its next wait and answer. An emergency run counts from its own start:
// it promises an answer within giveUp of its delivery, so a call throttled
// after that fails at once (and FC's retry tries the secret again).
func (w *invocation) givingUp(ln *lane, api string, th *throttling, maxPause, giveUp time.Duration) error {
	if th.since.IsZero() {
		return nil
	}
	origin := th.since
	if w.req.Emergency {
		origin = w.start
	}
	now := w.r.clock.Now()
	if now.Sub(origin)+nextWait(ln, w.pauseLeft(th, maxPause))+ln.latency.get() <= giveUp {
		return nil
	}
	d := now.Sub(th.since)
	why := ""
	if w.req.Emergency {
		why = " (emergency run: it waits at most " + maxPause.String() + " between tries and gives up " + giveUp.String() + " after it began)"
	}
	return errorf(Throttled, "%s was still throttled after %s and %d throttled answers: the account's API quota is spent by other callers%s: %s",
		api, d.Round(time.Second), th.count, why, w.apiText(th.last))
}

// nextWait is how long the lane's pacer will hold the next call.
func nextWait(ln *lane, maxPause time.Duration) time.Duration {
	d := ln.pacer.delay(1)
	if maxPause > 0 {
		d = min(d, maxPause)
	}
	return d
}

// newBackoff spaces the retries of 5xx answers and calls without an answer.
func newBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.Multiplier = 2
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0 // the retry counts and the deadline bound it
	b.Reset()
	return b
}

// apiText is an API error as the report may show it: the adapter's own
// words, then the server's message, redacted and cut short.
func (w *invocation) apiText(ae APIError) string {
	msg := w.redact.clean(ae.Error())
	if sm := ae.ServerMessage(); sm != "" {
		msg += ": " + w.redact.server(sm)
	}
	return msg
}

// failure maps a failed call to the report's code; fallback is the step's
// (UpdateFailed for stores, CredentialSourceFailed for sources).
func (w *invocation) failure(err error, fallback Code) error {
	if CodeOf(err) != "" {
		return err
	}
	var ae APIError
	if errors.As(err, &ae) {
		if ae.Throttled() && fallback != CredentialSourceFailed {
			return errorf(Throttled, "%s", w.apiText(ae))
		}
		return &Error{Code: fallback, Message: w.apiText(ae), Err: err}
	}
	return &Error{Code: fallback, Message: w.redact.clean(err.Error()), Err: err}
}
