package endpoint

import (
	"context"
	"io"
	"net/http"
)

// ContextTransport ends each request when Ctx ends, as well as when the
// request's own context does (an SDK client's timeout): the cloud SDKs the
// adapters use take no context, and an invocation's deadline must reach the
// socket. What it derives for a request is released when the answer's body
// is closed, or at once when no answer came. Not an *http.Transport on
// purpose: an SDK given one may change it, and the pool is shared.
type ContextTransport struct {
	Ctx  context.Context
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t ContextTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case t.Ctx.Done() == nil: // a context that never ends
		return t.Base.RoundTrip(r)
	case r.Context().Done() == nil: // a request that would never end on its own
		return t.Base.RoundTrip(r.WithContext(t.Ctx))
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(t.Ctx, cancel)
	release := func() { stop(); cancel() }
	resp, err := t.Base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases a request's context once its answer is read.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
