package aliyun_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/internal/aliyun/kms"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// redirector is an API endpoint that redirects every call to another host,
// and that host's count of the calls it got.
func redirector(t *testing.T) (url string, away *atomic.Int32) {
	t.Helper()
	away = &atomic.Int32{}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		away.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(other.Close)
	from := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(from.Close)
	return from.URL, away
}

// The SDK's clients (ROA for SAE, RPC for KMS) follow no redirect to
// another host: the signed request and the security token stay home.
func TestNoRedirectToAnotherHost(t *testing.T) {
	creds := port.Credentials{AccessKeyID: "STS.redirect", AccessKeySecret: "redirect-secret", SecurityToken: "redirect-security-token"}
	for _, tc := range []struct {
		name string
		kind port.StoreKind
		env  string
		ref  port.SecretRef
	}{
		{"sae", sae.Kind{}, sae.EnvEndpoint, &sae.Ref{NamespaceID: "cn-hangzhou:prod", SecretID: 1}},
		{"kms", kms.Kind{}, kms.EnvEndpoint, &kms.Ref{RegionID: "cn-hangzhou", SecretName: "acr-pull"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, away := redirector(t)
			st, err := tc.kind.Open(port.Env{APITimeout: 5 * time.Second, Quota: port.Quota{Calls: 60},
				Getenv: func(k string) string {
					if k == tc.env {
						return url
					}
					return ""
				}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Read(context.Background(), creds, tc.ref); err == nil {
				t.Error("a read answered with a redirect succeeded")
			}
			if n := away.Load(); n != 0 {
				t.Errorf("%d requests followed the redirect to another host", n)
			}
		})
	}
}
