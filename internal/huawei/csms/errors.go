package csms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// CallError is a failed CSMS call (port.APIError), worded without the
// server's message: error_msg can quote the request, the value included.
type CallError struct {
	Action string
	Status int    // HTTP status; 0 when no answer came
	Code   string // error_code; "" when no answer came
	Detail string // this client's own words
	Server string // error_msg, for ServerMessage only
	local  bool   // failed before anything was sent: not worth retrying
}

func (e *CallError) Error() string {
	switch {
	case e.Status == 0:
		return fmt.Sprintf("csms %s: %s", e.Action, e.Detail)
	case e.Detail != "":
		return fmt.Sprintf("csms %s: HTTP %d %s (%s)", e.Action, e.Status, e.Code, e.Detail)
	default:
		return fmt.Sprintf("csms %s: HTTP %d %s", e.Action, e.Status, e.Code)
	}
}

// ErrorCode implements port.APIError.
func (e *CallError) ErrorCode() string { return e.Code }

// HTTPStatus implements port.APIError.
func (e *CallError) HTTPStatus() int { return e.Status }

// Throttled implements port.APIError: Huawei Cloud's API gateway
// answers throttled calls with HTTP 429 (APIGW.0308).
func (e *CallError) Throttled() bool { return e.Status == http.StatusTooManyRequests }

// Transient implements port.APIError: 5xx answers, and calls that got
// no answer.
func (e *CallError) Transient() bool { return !e.local && (e.Status == 0 || e.Status >= 500) }

// ServerMessage implements port.APIError.
func (e *CallError) ServerMessage() string { return e.Server }

// notFoundCodes are CSMS's answers for a secret that does not exist
// (DEW API reference, error codes; answered with HTTP 400).
var notFoundCodes = map[string]bool{"CSMS.0005": true, "CSMS.0106": true}

// fail turns an SDK error into a CallError.
func fail(ctx context.Context, action string, timeout time.Duration, err error) error {
	ce := &CallError{Action: action}
	var se *sdkerr.ServiceResponseError
	var ue *url.Error
	switch {
	case errors.As(err, &se) && se.StatusCode >= 400:
		ce.Status, ce.Code, ce.Server = se.StatusCode, se.ErrorCode, se.ErrorMessage
		if ce.Code == "" {
			ce.Code = fmt.Sprintf("HTTP%d", ce.Status)
		}
	case errors.As(err, &se):
		// A 2xx answer whose body did not decode: the SDK puts the decoder's
		// words (which can quote the body) in ErrorMessage; they are dropped.
		ce.Status, ce.Code, ce.Detail = se.StatusCode, "InvalidResponse", "the answer does not decode"
	case errors.As(err, &ue):
		// url.Error holds the URL: keep only the cause. http.Client's own
		// timeout also reports context.DeadlineExceeded: only the
		// invocation's context ending is a cancellation.
		switch {
		case ctx.Err() != nil:
			ce.Detail = "cancelled: the invocation's deadline came"
		case ue.Timeout():
			ce.Detail = fmt.Sprintf("no answer within %v (timed out)", timeout)
		default:
			ce.Detail = "transport error: " + ue.Err.Error()
		}
	default:
		// The SDK's own errors before sending (building or signing the request).
		ce.Detail, ce.local = "the request could not be built", true
	}
	return ce
}

// notFound gives a missing secret its report code.
func notFound(err error, r *Ref) error {
	var ce *CallError
	if errors.As(err, &ce) && (ce.Status == http.StatusNotFound || notFoundCodes[ce.Code]) {
		return port.Errorf(port.SecretNotFound, "csms secret %q does not exist in project %s of %s (%s)",
			r.SecretName, r.ProjectID, r.Region, ce.Error())
	}
	return err
}

// ctxTransport binds the invocation's context to the SDK's requests: the
// SDK takes no context, and cancelling must reach the socket.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}
