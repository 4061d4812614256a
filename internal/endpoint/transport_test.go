package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// A failed exchange is worded by its cause alone: never the URL (and the
// signed query in it) that a *url.Error carries.
func TestTransportDetail(t *testing.T) {
	const signed = "https://api.example.com/?Signature=sig-not-real&SecurityToken=token-not-real"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		err      error
		timedOut bool
		want     string
	}{
		{"the invocation's end", cancelled, &url.Error{Op: "Get", URL: signed, Err: context.Canceled}, false, "cancelled: the invocation's deadline came"},
		{"the client's timeout, said by the error", context.Background(), &url.Error{Op: "Get", URL: signed, Err: timeoutErr{}}, false, "no answer within 3s (timed out)"},
		{"the client's timeout, known to the caller", context.Background(), errors.New("net/http: request canceled"), true, "no answer within 3s (timed out)"},
		{"a deadline, wrapped", context.Background(), fmt.Errorf("dial: %w", context.DeadlineExceeded), false, "no answer within 3s (timed out)"},
		{"refused", context.Background(), &url.Error{Op: "Get", URL: signed, Err: errors.New("connection refused")}, false, "transport error: connection refused"},
		{"another error", context.Background(), errors.New("unexpected EOF"), false, "transport error: unexpected EOF"},
		{"no error kept", context.Background(), nil, false, "transport error"},
	} {
		got := TransportDetail(tc.ctx, tc.err, tc.timedOut, "3s")
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if strings.Contains(got, "not-real") || strings.Contains(got, "api.example.com") {
			t.Errorf("%s: the detail quotes the request's URL", tc.name)
		}
	}
}

// Each call is a pool of its own, which carries requests.
func TestNewTransport(t *testing.T) {
	a, b := NewTransport(), NewTransport()
	if a == b || a == http.DefaultTransport {
		t.Fatal("NewTransport shares a pool")
	}
	if a.MaxIdleConnsPerHost != 16 || a.DialContext == nil || a.Proxy == nil {
		t.Errorf("idle per host %d, dialer set %v, proxy set %v: want 16 and both set", a.MaxIdleConnsPerHost, a.DialContext != nil, a.Proxy != nil)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	resp, err := (&http.Client{Transport: a}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("answer %q", body)
	}
	a.CloseIdleConnections()
}
