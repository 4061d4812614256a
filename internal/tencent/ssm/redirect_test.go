package ssm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// The client follows no redirect to another host: the signed request and
// the session token stay home.
func TestNoRedirectToAnotherHost(t *testing.T) {
	var away atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		away.Add(1)
		_, _ = w.Write([]byte(`{"Response":{"RequestId":"r","SecretName":"acr-pull","VersionId":"v1","SecretString":"{}"}}`))
	}))
	defer other.Close()
	from := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer from.Close()
	st, err := open(t, map[string]string{EnvEndpoint: from.URL, EnvSecretID: "redirect-id", EnvSecretKey: "redirect-key", EnvSessionToken: "redirect-token"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(context.Background(), port.Credentials{}, &Ref{Region: "ap-guangzhou", SecretName: "acr-pull", VersionID: "v1"}); err == nil {
		t.Error("a read answered with a redirect succeeded")
	}
	if n := away.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect to another host", n)
	}
}
