package login

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

type lastRequest struct{ url string }

func (l *lastRequest) RoundTrip(r *http.Request) (*http.Response, error) {
	l.url = r.URL.String()
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
}

// go-containerregistry builds URLs for a private or loopback IP literal
// with http (name.Registry.Scheme) whatever the ping found; onScheme puts
// the registry's own requests back on its configured scheme, and leaves
// everything else (a token endpoint on the same host, other hosts) alone.
func TestOnScheme(t *testing.T) {
	reg, _ := name.NewRegistry("10.0.0.5:5000", name.StrictValidation)
	if reg.Scheme() != "http" {
		t.Fatalf("the library's scheme for a private IP is %q: this guard is no longer needed", reg.Scheme())
	}
	inner := &lastRequest{}
	rt := &onScheme{inner: inner, base: url.URL{Scheme: "https", Host: "10.0.0.5:5000"}}
	for _, tc := range []struct{ in, want string }{
		{"http://10.0.0.5:5000/v2/team/web/tags/list?n=1", "https://10.0.0.5:5000/v2/team/web/tags/list?n=1"},
		{"https://10.0.0.5:5000/v2/", "https://10.0.0.5:5000/v2/"},
		{"http://10.0.0.5:5000/service/token", "http://10.0.0.5:5000/service/token"},
		{"http://127.0.0.1:8080/v2/", "http://127.0.0.1:8080/v2/"},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.in, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if inner.url != tc.want || req.URL.String() != tc.in {
			t.Errorf("%s: sent %s (caller's request now %s), want %s", tc.in, inner.url, req.URL, tc.want)
		}
	}
}
