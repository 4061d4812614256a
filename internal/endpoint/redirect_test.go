package endpoint

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
)

// A client over NoRedirectAway follows a redirect on its own host, and gets
// a redirect to another host back as the answer it is, the other host
// never asked.
func TestNoRedirectAway(t *testing.T) {
	var awayHits atomic.Int32
	away := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { awayHits.Add(1) }))
	defer away.Close()
	var home *httptest.Server
	home = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, away.URL+"/stolen?SecurityToken=x", http.StatusTemporaryRedirect)
		case "/home":
			http.Redirect(w, r, home.URL+"/here", http.StatusFound)
		case "/here":
			_, _ = w.Write([]byte("ok"))
		}
	}))
	defer home.Close()
	client := &http.Client{Transport: NoRedirectAway{Base: http.DefaultTransport}}
	resp, err := client.Get(home.URL + "/away")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || awayHits.Load() != 0 {
		t.Errorf("a redirect to another host: status %d, %d requests reached it", resp.StatusCode, awayHits.Load())
	}
	resp, err = client.Get(home.URL + "/home")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a redirect on the same host was not followed: status %d", resp.StatusCode)
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		same     bool
	}{
		{"https://sae.cn-hangzhou.aliyuncs.com:443/pop", "https://SAE.cn-hangzhou.aliyuncs.com/x", true},
		{"http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b", true},
		{"http://127.0.0.1:8080/a", "https://127.0.0.1:8080/b", true},
		{"https://127.0.0.1:8080/a", "http://127.0.0.1:8080/b", false},
		{"https://sae.cn-hangzhou.aliyuncs.com/pop", "https://attacker.example.com/pop", false},
		{"https://sae.cn-hangzhou.aliyuncs.com/pop", "https://sae.cn-hangzhou.aliyuncs.com:8443/pop", false},
		{"http://127.0.0.1:8080/a", "http://127.0.0.2:8080/a", false},
	} {
		from, _ := url.Parse(tc.from)
		to, _ := url.Parse(tc.to)
		if got := sameOrigin(from, to); got != tc.same {
			t.Errorf("%s -> %s: same origin %v, want %v", tc.from, tc.to, got, tc.same)
		}
	}
}
