package csms_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/internal/huawei/csms"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// The client follows no redirect to another host: the signed request and
// the security token stay home.
func TestNoRedirectToAnotherHost(t *testing.T) {
	var away atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		away.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	defer other.Close()
	from := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer from.Close()
	vars := map[string]string{csms.EnvEndpoint: from.URL, csms.EnvAK: "redirect-ak", csms.EnvSK: "redirect-sk", csms.EnvSecurityToken: "redirect-token"}
	st, err := csms.Kind{}.Open(port.Env{Getenv: func(k string) string { return vars[k] }, APITimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ref := &csms.Ref{Region: "cn-north-4", ProjectID: "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", SecretName: "acr-pull"}
	if _, err := st.Read(context.Background(), port.Credentials{}, ref); err == nil {
		t.Error("a read answered with a redirect succeeded")
	}
	if n := away.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect to another host", n)
	}
}
