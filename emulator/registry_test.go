package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
)

const unauthorizedBody = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`

// answer is one registry answer as a client sees it.
type answer struct {
	status          int
	challenge, body string
	apiVersion      string
}

// registryGet sends GET path with an optional Authorization header.
func registryGet(t *testing.T, srv *emulator.Server, path, authz string, timeout time.Duration) (answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b), resp.Header.Get("Docker-Distribution-API-Version")}, nil
}

func mustGet(t *testing.T, srv *emulator.Server, path, authz string) answer {
	t.Helper()
	a, err := registryGet(t, srv, path, authz, 5*time.Second)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return a
}

func basic(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

// registryToken exchanges a pair at the token endpoint; "" when refused.
func registryToken(t *testing.T, srv *emulator.Server, user, pass string) string {
	t.Helper()
	a := mustGet(t, srv, "/service/token?service=registry.emulator", basic(user, pass))
	if a.status != 200 {
		if a.status != 401 || a.body != unauthorizedBody {
			t.Fatalf("token endpoint: %d %s", a.status, a.body)
		}
		return ""
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(a.body), &tok); err != nil || tok.Token == "" || tok.AccessToken != tok.Token || tok.ExpiresIn != 300 {
		t.Fatalf("token answer malformed (%v)", err)
	}
	return tok.Token
}

func TestRegistryBearer(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddInstance(emulator.Instance{ID: "cri-reg"})
	srv.AddInstance(emulator.Instance{ID: "cri-short", TokenTTL: time.Millisecond})
	// A pair minted through the real SDK, as the function gets it.
	resp, err := getToken(srv, crClient(t, emulator.DefaultCredential), "cri-reg")
	if err != nil {
		t.Fatal(err)
	}
	user, pass := resp.TempUsername, resp.AuthorizationToken
	short, err := srv.MintToken("cri-short")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	srv.ResetCalls()

	a := mustGet(t, srv, "/v2/", "")
	wantChallenge := fmt.Sprintf(`Bearer realm="%s/service/token",service="registry.emulator"`, srv.URL())
	if a.status != 401 || a.challenge != wantChallenge || a.body != unauthorizedBody || a.apiVersion != "registry/2.0" {
		t.Fatalf("ping: %d %q %s %q", a.status, a.challenge, a.body, a.apiVersion)
	}

	tok := registryToken(t, srv, user, pass)
	if tok == "" {
		t.Fatal("token endpoint refused a minted pair")
	}
	tests := []struct {
		name, authz string
		status      int
	}{
		{"issued registry token", "Bearer " + tok, 200},
		{"unknown registry token", "Bearer " + tok + "x", 401},
		{"the password as a bearer token", "Bearer " + pass, 401},
		{"basic auth on a bearer registry", basic(user, pass), 401},
	}
	for _, tc := range tests {
		if a := mustGet(t, srv, "/v2", tc.authz); a.status != tc.status || (tc.status == 200 && a.body != "{}") {
			t.Fatalf("%s: %d %s", tc.name, a.status, a.body)
		}
	}
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", user, pass + "x"},
		{"wrong user", "someone", pass},
		{"expired pair", short.Username, short.Password},
		{"empty", "", ""},
	} {
		if registryToken(t, srv, tc.user, tc.pass) != "" {
			t.Fatalf("token endpoint accepted: %s", tc.name)
		}
	}
	if a := mustGet(t, srv, "/service/token", ""); a.status != 401 {
		t.Fatalf("token endpoint without auth: %d", a.status)
	}

	srv.SetRegistryRefuse(true)
	if registryToken(t, srv, user, pass) != "" || mustGet(t, srv, "/v2/", "Bearer "+tok).status != 401 {
		t.Fatal("a refusing registry accepted a credential")
	}
	srv.SetRegistryRefuse(false)
	if mustGet(t, srv, "/v2/", "Bearer "+tok).status != 200 {
		t.Fatal("the registry token no longer works after the refusal ended")
	}

	calls := srv.Calls()
	for _, c := range calls {
		if c.Product != "registry" || (c.Action != "Ping" && c.Action != "Token") || c.Status == 0 {
			t.Fatalf("recorded %s %s %d", c.Product, c.Action, c.Status)
		}
		if recorded := fmt.Sprintf("%v", c); strings.Contains(recorded, pass) || strings.Contains(recorded, tok) {
			t.Fatalf("the call log of %s holds a credential", c.Action)
		}
	}
	if c := calls[0]; c.Action != "Ping" || c.Method != "GET" || c.Path != "/v2/" || c.Status != 401 || c.Code != "UNAUTHORIZED" {
		t.Fatalf("first call: %s %s %s %d %s", c.Action, c.Method, c.Path, c.Status, c.Code)
	}
	if c := calls[1]; c.Action != "Token" || c.Query.Get("service") != "registry.emulator" || c.Status != 200 || c.Code != "" {
		t.Fatalf("second call: %s %v %d %s", c.Action, c.Query, c.Status, c.Code)
	}
}

func TestRegistryBasicAndRealm(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddInstance(emulator.Instance{ID: "cri-reg"})
	tok, err := srv.MintToken("cri-reg")
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Tokens(); len(got) != 1 || got[0] != tok || tok.Username != "cr_temp_user" || time.Until(tok.ExpiresAt) < 59*time.Minute {
		t.Fatal("MintToken did not mint as GetAuthorizationToken does")
	}
	if _, err := srv.MintToken("cri-missing"); err == nil {
		t.Fatal("MintToken of an unknown instance succeeded")
	}

	srv.SetRegistryRealm("http://203.0.113.9/token")
	if a := mustGet(t, srv, "/v2/", ""); a.challenge != `Bearer realm="http://203.0.113.9/token",service="registry.emulator"` {
		t.Fatalf("realm not set: %q", a.challenge)
	}
	srv.SetRegistryRealm("")
	if a := mustGet(t, srv, "/v2/", ""); !strings.Contains(a.challenge, srv.URL()+"/service/token") {
		t.Fatalf("realm not restored: %q", a.challenge)
	}

	if err := srv.SetRegistryAuth("digest"); err == nil {
		t.Fatal("SetRegistryAuth accepted an unknown mode")
	}
	if err := srv.SetRegistryAuth("basic"); err != nil {
		t.Fatal(err)
	}
	if a := mustGet(t, srv, "/v2/", ""); a.status != 401 || !strings.HasPrefix(a.challenge, `Basic realm="`) || a.body != unauthorizedBody {
		t.Fatalf("basic ping: %d %q", a.status, a.challenge)
	}
	if a := mustGet(t, srv, "/v2/", basic(tok.Username, tok.Password)); a.status != 200 || a.body != "{}" {
		t.Fatalf("basic login refused: %d", a.status)
	}
	if a := mustGet(t, srv, "/v2/", basic(tok.Username, tok.Password+"x")); a.status != 401 {
		t.Fatalf("basic login with a wrong password: %d", a.status)
	}
	srv.SetRegistryRefuse(true)
	if a := mustGet(t, srv, "/v2/", basic(tok.Username, tok.Password)); a.status != 401 {
		t.Fatalf("a refusing basic registry answered %d", a.status)
	}

	r, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v2/", nil)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("POST /v2/: %d", resp.StatusCode)
	}
}

func TestRegistryFaults(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.SetFault("registry", emulator.Fault{Fail: 2, FailStatus: 503})
	for i := 0; i < 2; i++ {
		a := mustGet(t, srv, "/v2/", "")
		if a.status != 503 || a.body != `{"errors":[{"code":"UNAVAILABLE","message":"service unavailable","detail":null}]}` {
			t.Fatalf("fail %d: %d %s", i, a.status, a.body)
		}
	}
	if a := mustGet(t, srv, "/v2/", ""); a.status != 401 {
		t.Fatalf("after the failures: %d", a.status)
	}

	srv.SetFault("Token", emulator.Fault{Throttle: 1, Fail: 1})
	if a := mustGet(t, srv, "/service/token", ""); a.status != 429 || !strings.Contains(a.body, `"TOOMANYREQUESTS"`) {
		t.Fatalf("throttle: %d %s", a.status, a.body)
	}
	if a := mustGet(t, srv, "/service/token", ""); a.status != 500 || !strings.Contains(a.body, `"UNKNOWN"`) {
		t.Fatalf("fail: %d %s", a.status, a.body)
	}
	if a := mustGet(t, srv, "/v2/", ""); a.status != 401 {
		t.Fatalf("a Token fault reached the ping: %d", a.status)
	}

	srv.SetFault("registry", emulator.Fault{Latency: 50 * time.Millisecond})
	begin := time.Now()
	if a := mustGet(t, srv, "/v2/", ""); a.status != 401 || time.Since(begin) < 50*time.Millisecond {
		t.Fatalf("latency: %d after %v", a.status, time.Since(begin))
	}

	srv.ResetCalls()
	srv.SetFault("registry", emulator.Fault{Hang: true})
	if _, err := registryGet(t, srv, "/v2/", "", 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: want the client's deadline, got %v", err)
	}
	if calls := srv.Calls(); len(calls) != 1 || calls[0].Action != "Ping" || calls[0].Status != 0 {
		t.Fatalf("hung call recorded as %v", calls)
	}
}
