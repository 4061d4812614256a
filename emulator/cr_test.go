package emulator_test

import (
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
)

func TestGetAuthorizationToken(t *testing.T) {
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}})
	srv.AddInstance(emulator.Instance{ID: "cri-1h", RegionID: "cn-hangzhou"})
	srv.AddInstance(emulator.Instance{ID: "cri-short", RegionID: "cn-beijing", TokenTTL: 10 * time.Minute})
	c := crClient(t, stsCred)

	tests := []struct {
		instance string
		ttl      time.Duration
	}{
		{"cri-1h", time.Hour},
		{"cri-short", 10 * time.Minute},
		{"cri-1h", time.Hour},
	}
	seen := map[string]bool{}
	for i, tc := range tests {
		start := time.Now()
		resp, err := getToken(srv, c, tc.instance)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !resp.GetAuthorizationTokenIsSuccess || resp.Code != "success" || resp.RequestId == "" || resp.TempUsername != "cr_temp_user" {
			t.Fatalf("%d: envelope %v %q %q", i, resp.GetAuthorizationTokenIsSuccess, resp.Code, resp.TempUsername)
		}
		if resp.AuthorizationToken == "" || seen[resp.AuthorizationToken] {
			t.Fatalf("%d: token empty or reused", i)
		}
		seen[resp.AuthorizationToken] = true
		exp := time.UnixMilli(resp.ExpireTime)
		if exp.Before(start.Add(tc.ttl).Add(-time.Second)) || exp.After(time.Now().Add(tc.ttl)) {
			t.Fatalf("%d: ExpireTime %v not now+%v", i, exp, tc.ttl)
		}
	}
	tokens := srv.Tokens()
	if len(tokens) != len(tests) {
		t.Fatalf("want %d tokens, got %d", len(tests), len(tokens))
	}
	for i, tok := range tokens {
		if tok.InstanceID != tests[i].instance || tok.Username != "cr_temp_user" || !seen[tok.Password] || tok.AccessKeyID != stsCred.AccessKeyID {
			t.Fatalf("token %d: %s %s ak %s", i, tok.InstanceID, tok.Username, tok.AccessKeyID)
		}
	}
	calls := srv.Calls()
	if calls[0].Permission() != "cr:GetAuthorizationToken" || calls[0].Method != "POST" || calls[0].Path != "/" ||
		calls[0].Query.Get("InstanceId") != "cri-1h" || calls[0].SecurityToken != stsCred.SecurityToken {
		t.Fatalf("recorded call: %s %s %s", calls[0].Permission(), calls[0].Method, calls[0].Path)
	}

	_, err := getToken(srv, c, "cri-missing")
	serverError(t, err, "INSTANCE_NOT_EXIST", 404)
	_, err = getToken(srv, c, "")
	serverError(t, err, "MissingInstanceId", 400)
	if len(srv.Tokens()) != len(tests) {
		t.Fatal("a refused call minted a token")
	}
}

func TestListInstanceEndpoint(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddInstance(emulator.Instance{ID: "cri-default", RegionID: "cn-shanghai"})
	srv.AddInstance(emulator.Instance{ID: "cri-custom", Endpoints: []emulator.Endpoint{
		{Type: "internet", Enabled: false, Domains: []string{"acme-registry.cn-hangzhou.cr.aliyuncs.com"}},
		{Type: "vpc", Enabled: true, Domains: []string{"acme-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "registry.acme.internal"}},
	}})
	srv.AddInstance(emulator.Instance{ID: "cri-none", Endpoints: []emulator.Endpoint{}})
	c := crClient(t, emulator.DefaultCredential)

	type ep struct {
		typ, status string
		enable      bool
		domains     []string
		types       []string
	}
	tests := []struct {
		instance string
		want     []ep
	}{
		{"cri-default", []ep{
			{"internet", "RUNNING", true, []string{"cri-default-registry.cn-shanghai.cr.aliyuncs.com"}, []string{"SYSTEM"}},
			{"vpc", "RUNNING", true, []string{"cri-default-registry-vpc.cn-shanghai.cr.aliyuncs.com"}, []string{"SYSTEM"}},
		}},
		{"cri-custom", []ep{
			{"internet", "DISABLED", false, []string{"acme-registry.cn-hangzhou.cr.aliyuncs.com"}, []string{"SYSTEM"}},
			{"vpc", "RUNNING", true, []string{"acme-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "registry.acme.internal"}, []string{"SYSTEM", "USER"}},
		}},
		{"cri-none", nil},
	}
	for _, tc := range tests {
		t.Run(tc.instance, func(t *testing.T) {
			resp, err := listEndpoints(srv, c, tc.instance)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.ListInstanceEndpointIsSuccess || resp.Code != "success" || resp.RequestId == "" {
				t.Fatalf("envelope %v %q", resp.ListInstanceEndpointIsSuccess, resp.Code)
			}
			if len(resp.Endpoints) != len(tc.want) {
				t.Fatalf("want %d endpoints, got %d", len(tc.want), len(resp.Endpoints))
			}
			for i, w := range tc.want {
				got := resp.Endpoints[i]
				if got.EndpointType != w.typ || got.Status != w.status || got.Enable != w.enable || len(got.Domains) != len(w.domains) {
					t.Fatalf("endpoint %d: %+v", i, got)
				}
				for j := range w.domains {
					if got.Domains[j].Domain != w.domains[j] || got.Domains[j].Type != w.types[j] {
						t.Fatalf("endpoint %d domain %d: %+v", i, j, got.Domains[j])
					}
				}
				if got.LinkedVpcs == nil || got.AclEntries == nil {
					t.Fatalf("endpoint %d: LinkedVpcs/AclEntries missing", i)
				}
			}
		})
	}
	_, err := listEndpoints(srv, c, "cri-missing")
	serverError(t, err, "INSTANCE_NOT_EXIST", 404)
	if calls := srv.Calls(); calls[0].Permission() != "cr:ListInstanceEndpoint" || calls[0].Query.Get("ModuleName") != "Registry" {
		t.Fatalf("recorded %s", calls[0].Permission())
	}
}
