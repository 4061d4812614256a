package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr_ee"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/rotation"
)

// sdkMaps fills the SDK's package-level endpoint maps once: the SDK fills
// them lazily, without a lock, on each client's creation.
var sdkMaps sync.Once

// Backend builds SDK clients per invocation credentials. It is safe for
// concurrent use and shares one connection pool.
type Backend struct {
	sae, cr   Endpoint
	timeout   time.Duration
	transport *http.Transport
}

// ConnectTimeout bounds opening a connection to an API endpoint.
const ConnectTimeout = 5 * time.Second

// NewBackend returns a Backend; timeout bounds one API call (the SDK's read timeout).
func NewBackend(saeEndpoint, crEndpoint Endpoint, timeout time.Duration) *Backend {
	sdkMaps.Do(func() {
		sae.GetEndpointMap()
		cr_ee.GetEndpointMap()
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 16
	return &Backend{sae: saeEndpoint, cr: crEndpoint, timeout: timeout, transport: tr}
}

// SecretStore implements rotation.Backend.
func (b *Backend) SecretStore(creds rotation.Credentials, regionID string) rotation.SecretStore {
	return &SAE{b: b, creds: creds, region: regionID}
}

// TokenSource implements rotation.Backend.
func (b *Backend) TokenSource(creds rotation.Credentials, src rotation.Source) rotation.TokenSource {
	return &ACREE{b: b, creds: creds, src: src}
}

func credentialOf(c rotation.Credentials) auth.Credential {
	if c.SecurityToken != "" {
		return credentials.NewStsTokenCredential(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)
	}
	return credentials.NewAccessKeyCredential(c.AccessKeyID, c.AccessKeySecret)
}

// config is the SDK configuration of every client: retries are the
// engine's (the SDK's would not cover throttling, and would hide attempts
// from the pacer).
func (b *Backend) config() *sdk.Config {
	return sdk.NewConfig().WithScheme("HTTPS").WithAutoRetry(false)
}

// bind makes a client's requests carry ctx: the SDK takes no context, and
// cancelling must reach the socket. A client is built per call because the
// SDK writes its http.Client's timeout on every call (a data race when shared).
func (b *Backend) bind(client interface{ SetTransport(http.RoundTripper) }, ctx context.Context) {
	client.SetTransport(ctxTransport{ctx: ctx, base: b.transport})
}

// ctxTransport binds a context to the SDK's requests. Not an *http.Transport
// on purpose: the SDK then leaves the shared transport alone.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

// point aims a request at an endpoint, or the regional default.
// port is the request's Port field: the SDK's interface has no setter.
func (b *Backend) point(req requests.AcsRequest, port *string, ep Endpoint, product, region string, roa bool) {
	if !ep.set() {
		ep = Endpoint{Scheme: "https", Host: fmt.Sprintf("%s.%s.aliyuncs.com", product, region)}
	}
	req.SetScheme(ep.Scheme)
	req.SetDomain(ep.Host)
	*port = ep.Port
	if *port == "" && roa {
		// A ROA URL is built as scheme://host:port/path, so the port must be
		// given, and apart from the domain ("host:port" builds a broken URL).
		*port = map[string]string{"http": "80", "https": "443"}[ep.Scheme]
	}
	req.SetReadTimeout(b.timeout)
	req.SetConnectTimeout(ConnectTimeout)
}

// CallError is a failed API call, worded without request data: SDK error
// texts can carry the string to sign, which holds the request's parameters.
type CallError struct {
	Product, Action string
	Status          int    // HTTP status; 0 when no answer came
	Code            string // the API's error code; "" for transport errors
	Message         string
}

func (e *CallError) Error() string {
	switch {
	case e.Status == 0:
		return fmt.Sprintf("%s %s: %s", e.Product, e.Action, e.Message)
	case e.Message == "":
		return fmt.Sprintf("%s %s: HTTP %d %s", e.Product, e.Action, e.Status, e.Code)
	default:
		return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Product, e.Action, e.Status, e.Code, e.Message)
	}
}

// ErrorCode implements rotation.APIError.
func (e *CallError) ErrorCode() string { return e.Code }

// HTTPStatus implements rotation.APIError.
func (e *CallError) HTTPStatus() int { return e.Status }

const maxMessage = 300

// callError turns an SDK error into a CallError.
func callError(ctx context.Context, product, action string, err error, timeout time.Duration) error {
	ce := &CallError{Product: product, Action: action}
	// The SDK's ClientError keeps its cause in OriginError, not Unwrap.
	for {
		o, ok := err.(interface{ OriginError() error })
		if !ok || o.OriginError() == nil {
			break
		}
		err = o.OriginError()
	}
	var se *sdkerrors.ServerError
	var ue *url.Error
	switch {
	case errors.As(err, &se):
		ce.Status, ce.Code, ce.Message = se.HttpStatus(), se.ErrorCode(), se.Message()
		if ce.Code == "" {
			ce.Code = "HTTP" + fmt.Sprint(ce.Status)
		}
	case errors.As(err, &ue):
		// url.Error holds the URL, and with it the query: keep only the cause.
		// http.Client's own timeout also reports context.DeadlineExceeded:
		// only the invocation's context ending is a cancellation.
		switch {
		case ctx.Err() != nil:
			ce.Message = "cancelled: the invocation's deadline came"
		case ue.Timeout():
			ce.Message = fmt.Sprintf("no answer within %v (timed out)", timeout)
		default:
			ce.Message = "transport error: " + ue.Err.Error()
		}
	default:
		ce.Message = "request failed before it was sent"
	}
	if len(ce.Message) > maxMessage {
		ce.Message = ce.Message[:maxMessage] + "…"
	}
	return ce
}
