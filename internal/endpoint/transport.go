package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ConnectTimeout bounds opening a connection to an API endpoint.
const ConnectTimeout = 5 * time.Second

// NewTransport is a connection pool for one cloud's API clients, shared by
// their calls: http.DefaultTransport's settings, with ConnectTimeout to
// open a connection and up to 16 idle connections kept per host. The
// adapters wrap it (ContextTransport, NoRedirectAway) and never hand it to
// an SDK bare.
func NewTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 16
	return tr
}

// TransportDetail words a request that got no answer, without its URL: a
// *url.Error holds the URL, and with it a signed query, so only its cause
// is kept. ctx is the invocation's: its end is a cancellation, while a
// timeout of the client's own (timedOut, when the caller knows it, or an
// error that says so) is "no answer within limit".
func TransportDetail(ctx context.Context, err error, timedOut bool, limit string) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "cancelled: the invocation's deadline came"
	case timedOut, errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s (timed out)", limit)
	case err == nil:
		return "transport error"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "transport error: " + err.Error()
}
