package rotation

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
)

// Retry budget of one API call: throttling and transient failures
// (HTTP 5xx, transport errors and timeouts) are retried with backoff.
const maxRetries = 5

// maxTransportRetries bounds retries of calls that got no answer at all.
const maxTransportRetries = 2

func newBackoff(ctx context.Context) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0 // the context's deadline bounds it
	return backoff.WithContext(backoff.WithMaxRetries(b, maxRetries), ctx)
}

// call runs one SAE call under the shared pacer, with retries.
func (w *invocation) call(ctx context.Context, api string, fn func(context.Context) error) error {
	return w.retry(ctx, api, true, fn)
}

// callUnpaced runs a call outside SAE's quota (ACR), with retries.
func (w *invocation) callUnpaced(ctx context.Context, api string, fn func(context.Context) error) error {
	return w.retry(ctx, api, false, fn)
}

func (w *invocation) retry(ctx context.Context, api string, paced bool, fn func(context.Context) error) error {
	attempt := 0
	op := func() error {
		attempt++
		if paced {
			if err := w.r.pacer.Wait(ctx); err != nil {
				return backoff.Permanent(err)
			}
		}
		start := time.Now()
		err := fn(ctx)
		if paced {
			w.r.latency.observe(time.Since(start))
		}
		if err == nil {
			if paced {
				w.r.pacer.Succeeded()
			}
			return nil
		}
		var ae APIError
		switch {
		case ctx.Err() != nil, errors.Is(err, errStale), CodeOf(err) != "":
			return backoff.Permanent(err)
		case !errors.As(err, &ae):
			return backoff.Permanent(err)
		case isThrottling(ae):
			if paced {
				w.r.pacer.Throttled()
			}
		case ae.HTTPStatus() == 0 && attempt > maxTransportRetries:
			// A hanging endpoint costs a full timeout per attempt: give up sooner.
			return backoff.Permanent(err)
		case ae.HTTPStatus() >= 500 || ae.HTTPStatus() == 0:
		default:
			return backoff.Permanent(err)
		}
		w.log.Warn("API call failed, retrying", zap.String("api", api), zap.Int("attempt", attempt),
			zap.String("code", ae.ErrorCode()), zap.Int("httpStatus", ae.HTTPStatus()))
		return err
	}
	err := backoff.Retry(op, newBackoff(ctx))
	if err != nil && ctx.Err() != nil && CodeOf(err) == "" {
		return errorf(DeadlineExceeded, "%s did not finish before the invocation's deadline", api)
	}
	return err
}

func isThrottling(ae APIError) bool { return strings.HasPrefix(ae.ErrorCode(), "Throttling") }

// apiFailure maps a failed call to the report's code; fallback is the code
// of the step (UpdateFailed for SAE, CredentialSourceFailed for ACR).
func (w *invocation) apiFailure(err error, api string, fallback Code) error {
	if CodeOf(err) != "" {
		return err
	}
	var ae APIError
	if errors.As(err, &ae) {
		switch {
		case fallback == CredentialSourceFailed:
		case isThrottling(ae):
			return errorf(Throttled, "%s was still throttled after %d retries: %v", api, maxRetries, err)
		case ae.ErrorCode() == "InvalidNamespaceId.NotFound", ae.ErrorCode() == "InvalidSecretId.NotFound":
			return errorf(SecretNotFound, "%v", err)
		}
	}
	return errorf(fallback, "%v", err)
}

// asError gives err its report code, fallback when it has none.
func asError(err error, fallback Code) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: fallback, Message: err.Error(), Err: err}
}
