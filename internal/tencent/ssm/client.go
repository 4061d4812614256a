package ssm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	tcssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"

	overrides "github.com/sae-secret-rotator/rotator/internal/endpoint"
)

// connectTimeout bounds opening a connection to the API endpoint.
const connectTimeout = 5 * time.Second

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

// newTransport is the store's connection pool, shared by its calls.
func newTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 16
	return tr
}

// reqTimeout is the SDK's ReqTimeout, in whole seconds: apiTimeout rounded up.
func reqTimeout(d time.Duration) int {
	if d <= 0 {
		d = 10 * time.Second
	}
	return int(math.Ceil(d.Seconds()))
}

// client builds an SDK client for one call. The SDK (v1.0.162) takes no
// context, so the call's exchange binds ctx to the request; a client per
// call keeps exchanges apart.
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
	x := &exchange{ctx: ctx, base: overrides.NoRedirectAway{Base: s.transport}}
	c.WithHttpTransport(x)
	return c, x
}

// exchange is the transport of one call: it ties the request to the
// invocation's context and keeps what the SDK's errors word with the URL
// and the body (the HTTP status, the transport error).
type exchange struct {
	ctx      context.Context
	base     http.RoundTripper
	status   int
	err      error
	timedOut bool // the SDK client's timeout ended the request
}

func (x *exchange) RoundTrip(r *http.Request) (*http.Response, error) {
	// r's context carries the SDK client's timeout; the invocation's end
	// must cancel the call too.
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(x.ctx, cancel)
	resp, err := x.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		// The client's timeout ends r's context or closes r.Cancel (for a
		// transport it does not know), which the transport reports as a
		// plain cancellation.
		x.err, x.timedOut = err, r.Context().Err() != nil || closed(r.Cancel) //nolint:staticcheck // r.Cancel is how http.Client cancels this transport

		return nil, err
	}
	x.status = resp.StatusCode
	resp.Body = &releasingBody{ReadCloser: resp.Body, x: x, release: func() { stop(); cancel() }}
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

// releasingBody frees the call's context once the SDK has read the answer,
// and keeps a read error for the call's error.
type releasingBody struct {
	io.ReadCloser
	x       *exchange
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.x.err = err
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// CallError is a failed SSM call, worded without request data: the SDK's
// own error texts carry the URL and the answer's body, which can hold the
// secret value.
type CallError struct {
	Action    string
	Status    int    // HTTP status; 0 when no (complete) answer came
	Code      string // the API's error code; "" for transport errors
	Detail    string // this client's own words
	Server    string // the server's message: it may quote the request
	RequestID string
}

func (e *CallError) Error() string {
	msg := "ssm " + e.Action + ": "
	switch {
	case e.Status == 0:
		msg += e.Detail
	case e.Detail != "":
		msg += fmt.Sprintf("HTTP %d %s (%s)", e.Status, e.Code, e.Detail)
	default:
		msg += fmt.Sprintf("HTTP %d %s", e.Status, e.Code)
	}
	if e.RequestID != "" {
		msg += " [RequestId " + e.RequestID + "]"
	}
	return msg
}

// ErrorCode implements rotation.APIError.
func (e *CallError) ErrorCode() string { return e.Code }

// HTTPStatus implements rotation.APIError. Tencent Cloud answers API errors
// with HTTP 200.
func (e *CallError) HTTPStatus() int { return e.Status }

// Throttled implements rotation.APIError: RequestLimitExceeded and its
// sub-codes (RequestLimitExceeded.UinLimitExceeded, ...).
func (e *CallError) Throttled() bool { return strings.HasPrefix(e.Code, "RequestLimitExceeded") }

// Transient implements rotation.APIError: no answer, HTTP 5xx, or the
// API's InternalError.
func (e *CallError) Transient() bool {
	return e.Status == 0 || e.Status >= 500 || e.Code == "InternalError" || strings.HasPrefix(e.Code, "InternalError.")
}

// ServerMessage implements rotation.APIError.
func (e *CallError) ServerMessage() string { return e.Server }

// notFound reports Tencent's answer for a secret or version that does not exist.
func (e *CallError) notFound() bool {
	return e.Code == "ResourceNotFound" || strings.HasPrefix(e.Code, "ResourceNotFound.")
}

// fail turns an SDK error into a CallError.
func (s *Store) fail(ctx context.Context, action string, x *exchange, err error) *CallError {
	ce := &CallError{Action: action, Status: x.status}
	var se *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &se) {
		ce.Status, ce.Detail = 0, "request failed before it was sent"
		return ce
	}
	switch se.Code {
	case "ClientError.NetworkError", "ClientError.IOError":
		// No answer, or one cut short: the SDK's text names the URL.
		ce.Status, ce.Detail = 0, s.transportDetail(ctx, x)
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
	}
	return ce
}

// transportDetail words a transport failure without the request's URL.
func (s *Store) transportDetail(ctx context.Context, x *exchange) string {
	err := x.err
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "cancelled: the invocation's deadline came"
	case x.timedOut, errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %ds (timed out)", reqTimeout(s.timeout))
	case err == nil:
		return "transport error"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "transport error: " + err.Error()
}
