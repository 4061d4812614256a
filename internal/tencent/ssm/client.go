package ssm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	tcssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"

	overrides "github.com/sae-secret-rotator/rotator/internal/endpoint"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// endpoint is where SSM is reached: host[:port] and the SDK's scheme name.
type endpoint struct {
	host   string
	scheme string // "HTTPS" or "HTTP" (loopback only)
}

// parseEndpoint reads ROTATOR_SSM_ENDPOINT (package endpoint's rule).
func parseEndpoint(value string) (endpoint, error) {
	e, err := overrides.Parse(EnvEndpoint, value, "https://ssm.tencentcloudapi.com")
	switch {
	case err != nil:
		return endpoint{}, err
	case !e.Set():
		return endpoint{host: DefaultEndpoint, scheme: "HTTPS"}, nil
	}
	return endpoint{host: e.Address(), scheme: strings.ToUpper(e.Scheme)}, nil
}

// reqTimeout is the SDK's ReqTimeout, in whole seconds: apiTimeout rounded up.
func reqTimeout(d time.Duration) int {
	if d <= 0 {
		d = 10 * time.Second
	}
	return int(math.Ceil(d.Seconds()))
}

// client builds an SDK client for one call. The SDK (v1.0.162) takes no
// context, so the call's exchange binds ctx to the request
// (endpoint.ContextTransport); a client per call keeps exchanges apart.
func (s *Store) client(ctx context.Context, region string) (*tcssm.Client, *exchange) {
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = s.ep.host
	cpf.HttpProfile.Scheme = s.ep.scheme
	cpf.HttpProfile.ReqTimeout = reqTimeout(s.timeout)
	cpf.Language = "en-US"
	// The credential is built here from the environment's values only: the
	// SDK's provider chain and ~/.tencentcloud/ are never consulted.
	cred := common.NewCredential(s.id, s.key)
	if s.token != "" {
		cred = common.NewTokenCredential(s.id, s.key, s.token)
	}
	c, _ := tcssm.NewClient(cred, region, cpf) // never fails: it only fills fields
	x := &exchange{base: overrides.ContextTransport{Ctx: ctx, Base: overrides.NoRedirectAway{Base: s.transport}}}
	c.WithHttpTransport(x)
	return c, x
}

// exchange is the transport of one call: it keeps what the SDK's errors
// word with the URL and the body (the HTTP status, the transport error).
type exchange struct {
	base     http.RoundTripper
	status   int
	err      error
	timedOut bool // the SDK client's timeout ended the request
}

func (x *exchange) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := x.base.RoundTrip(r)
	if err != nil {
		// The client's timeout ends r's context or closes r.Cancel (for a
		// transport it does not know), which the transport reports as a
		// plain cancellation.
		x.err, x.timedOut = err, r.Context().Err() != nil || closed(r.Cancel) //nolint:staticcheck // r.Cancel is how http.Client cancels this transport
		return nil, err
	}
	x.status = resp.StatusCode
	resp.Body = &recordingBody{ReadCloser: resp.Body, x: x}
	return resp, nil
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false // also for a nil channel
	}
}

// recordingBody keeps a read error of the answer for the call's error.
type recordingBody struct {
	io.ReadCloser
	x *exchange
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.x.err = err
	}
	return n, err
}

// notFoundCode reports Tencent's answer for a secret or version that does not exist.
func notFoundCode(code string) bool {
	return code == "ResourceNotFound" || strings.HasPrefix(code, "ResourceNotFound.")
}

// fail turns an SDK error into a *port.CallError. Tencent Cloud answers
// API errors with HTTP 200: throttling is RequestLimitExceeded and its
// sub-codes (RequestLimitExceeded.UinLimitExceeded, ...), its own failure
// InternalError and its sub-codes.
func (s *Store) fail(ctx context.Context, action string, x *exchange, err error) *port.CallError {
	ce := &port.CallError{Product: "ssm", Action: action, Status: x.status}
	var se *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &se) {
		ce.Status, ce.Detail = 0, "request failed before it was sent"
		return ce
	}
	switch se.Code {
	case "ClientError.NetworkError", "ClientError.IOError":
		// No answer, or one cut short: the SDK's text names the URL.
		ce.Status, ce.Detail = 0, overrides.TransportDetail(ctx, x.err, x.timedOut, fmt.Sprintf("%ds", reqTimeout(s.timeout)))
		if se.Code == "ClientError.IOError" {
			ce.Detail = "the answer was cut short: " + ce.Detail
		}
	case "ClientError.HttpStatusCodeError":
		// The SDK's text holds the whole body.
		ce.Code = fmt.Sprintf("HTTP%d", x.status)
	case "ClientError.ParseJsonError":
		ce.Code, ce.Detail = se.Code, "the answer is not the API's JSON"
	default:
		ce.Code, ce.Server, ce.RequestID = se.Code, se.Message, se.RequestId
		ce.Throttle = strings.HasPrefix(se.Code, "RequestLimitExceeded")
		ce.Fault = se.Code == "InternalError" || strings.HasPrefix(se.Code, "InternalError.")
	}
	return ce
}
