package endpoint

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A request through ContextTransport ends when the bound context ends, and
// when its own does; an answer reads whole, whichever ends after it.
func TestContextTransport(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = io.WriteString(w, "answer")
			return
		}
		select { // an API that does not answer
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	base := NoRedirectAway{Base: srv.Client().Transport}
	get := func(bound, own context.Context, path string) (string, error) {
		req, _ := http.NewRequestWithContext(own, http.MethodGet, srv.URL+path, nil)
		resp, err := ContextTransport{Ctx: bound, Base: base}.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	// The bound context ends first, for a request with a context of its
	// own (a client's timeout) and for one without.
	for name, own := range map[string]func() (context.Context, context.CancelFunc){
		"with a timeout of its own": func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Minute)
		},
		"without": func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
	} {
		ended, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		ctx, cancelOwn := own()
		start := time.Now()
		_, err := get(ended, ctx, "/hang")
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("a request %s, the bound context ended: %v after %v, want the request ended", name, err, time.Since(start))
		}
		cancel()
		cancelOwn()
	}
	own, cancelOwn := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelOwn()
	if _, err := get(context.Background(), own, "/hang"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the request's own context ended: %v, want its deadline", err)
	}
	if body, err := get(context.Background(), context.Background(), "/ok"); err != nil || body != "answer" {
		t.Errorf("an answer: %q, %v", body, err)
	}
}
