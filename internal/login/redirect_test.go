package login_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A login follows no redirect to another host: the credential is offered
// to the registry (and the token endpoint its challenge names) only.
func TestLoginFollowsNoRedirectAway(t *testing.T) {
	var away atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { away.Add(1) }))
	defer other.Close()
	from := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer from.Close()
	err := checker(t, from.URL, 5*time.Second).Login(context.Background(), domain, "cr_temp_user", "redirect-password", "")
	if err == nil {
		t.Error("a login answered with a redirect to another host succeeded")
	}
	if n := away.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect to another host", n)
	}
}
