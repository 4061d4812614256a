package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"

	"github.com/sae-secret-rotator/rotator/internal/endpoint"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Backend is what every Alibaba Cloud client of the process shares: one
// connection pool and the call timeout. Safe for concurrent use.
type Backend struct {
	timeout   time.Duration
	transport *http.Transport
}

var (
	backends   = map[time.Duration]*Backend{}
	backendsMu sync.Mutex
)

// Shared returns the process's Backend for a call timeout (the SDK's read
// timeout): every product shares its connection pool.
func Shared(timeout time.Duration) *Backend {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b := backends[timeout]; b != nil {
		return b
	}
	b := &Backend{timeout: timeout, transport: endpoint.NewTransport()}
	backends[timeout] = b
	return b
}

// FillEndpointMaps fills an SDK package's endpoint map once per process
// (pass its GetEndpointMap): the SDK fills them lazily, without a lock, on
// each client's creation, which races between concurrent clients.
func FillEndpointMaps(fill ...func() map[string]string) {
	sdkMapsMu.Lock()
	defer sdkMapsMu.Unlock()
	for _, f := range fill {
		f()
	}
}

var sdkMapsMu sync.Mutex

// Credential is the SDK's signer for the invocation's credentials.
func Credential(c port.Credentials) auth.Credential {
	if c.SecurityToken != "" {
		return credentials.NewStsTokenCredential(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)
	}
	return credentials.NewAccessKeyCredential(c.AccessKeyID, c.AccessKeySecret)
}

// Config is the SDK configuration of every client: retries are the
// engine's (the SDK's would not cover throttling, and would hide attempts
// from the pacer).
func (b *Backend) Config() *sdk.Config {
	return sdk.NewConfig().WithScheme("HTTPS").WithAutoRetry(false)
}

// Bind makes a client's requests end with ctx (endpoint.ContextTransport):
// the SDK takes no context. A client is built per call because the SDK
// writes its http.Client's timeout on every call (a data race when shared).
func (b *Backend) Bind(ctx context.Context, client interface{ SetTransport(http.RoundTripper) }) {
	client.SetTransport(endpoint.ContextTransport{Ctx: ctx, Base: endpoint.NoRedirectAway{Base: b.transport}})
}

// Point aims a request at an endpoint, or the regional default
// <product>.<region>.aliyuncs.com. port is the request's Port field: the
// SDK's interface has no setter.
func (b *Backend) Point(req requests.AcsRequest, port *string, ep Endpoint, product, region string, roa bool) {
	if !ep.Set() {
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
	req.SetConnectTimeout(endpoint.ConnectTimeout)
}

// Failure is a failed call of an Alibaba Cloud API that answered code:
// throttled where the code says so, as all of Alibaba Cloud's throttling
// codes do (Throttling.User, Throttling.Api, Rejected.Throttling).
func Failure(product, action string, status int, code string) *port.CallError {
	return &port.CallError{Product: product, Action: action, Status: status, Code: code, Throttle: strings.Contains(code, "Throttling")}
}

// Fail turns an SDK error into a *port.CallError.
func (b *Backend) Fail(ctx context.Context, product, action string, err error) error {
	ce := &port.CallError{Product: product, Action: action}
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
		ce = Failure(product, action, se.HttpStatus(), se.ErrorCode())
		ce.Server = se.Message()
		if ce.Code == "" {
			ce.Code = "HTTP" + fmt.Sprint(ce.Status)
		}
	case errors.As(err, &ue):
		// url.Error holds the URL, and with it the query.
		ce.Detail = endpoint.TransportDetail(ctx, ue, false, b.timeout.String())
	default:
		ce.Detail = "request failed before it was sent"
	}
	return ce
}

// Envelope checks a success flag: a 2xx answer can still say it failed.
func Envelope(product, action string, status int, success bool, code, message string) error {
	if success {
		return nil
	}
	if code == "" {
		code = "UnknownError"
	}
	ce := Failure(product, action, status, code)
	ce.Server = message
	return ce
}

// CheckCredentials refuses to sign without the function's credentials.
func CheckCredentials(c port.Credentials) error {
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return port.Errorf(port.InvalidConfig, "no credentials: FC passes the function role's credentials; outside FC set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	}
	return nil
}
