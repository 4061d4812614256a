package endpoint

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, url, err string
	}{
		{"", "", ""},
		{"kms-vpc.cn-hangzhou.aliyuncs.com", "https://kms-vpc.cn-hangzhou.aliyuncs.com", ""},
		{"HTTPS://kms.example.com:8443/", "https://kms.example.com:8443", ""},
		{"http://127.0.0.1:18080", "http://127.0.0.1:18080", ""},
		{"http://localhost:18080", "http://localhost:18080", ""},
		{"http://[::1]:18080", "http://[::1]:18080", ""},
		{"http://10.0.0.8:18080", "", "loopback addresses only"},
		{"http://127.0.0.1.example.com", "", "loopback addresses only"},
		{"ftp://127.0.0.1", "", `scheme "ftp"`},
		{"https://host/path", "", "without path"},
		{"https://user:hunter2@host", "", "without path, query or user"},
		{"https://host#frag", "", "without path"},
		{"https://", "", "not a host"},
	} {
		ep, err := Parse("ROTATOR_X_ENDPOINT", tc.in, "https://x.example.com")
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err == "" && ep.Set() && ep.URL() != tc.url:
			t.Errorf("%q: URL %q, want %q", tc.in, ep.URL(), tc.url)
		case tc.err == "" && !ep.Set() && tc.url != "":
			t.Errorf("%q: not set", tc.in)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "ROTATOR_X_ENDPOINT: ")):
			t.Errorf("%q: error %v, want one naming the variable and containing %q", tc.in, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%q: the error quotes the user info", tc.in)
		}
	}
}
