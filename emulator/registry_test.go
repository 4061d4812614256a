package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

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
	return answer{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), strings.TrimSpace(string(b)), resp.Header.Get("Docker-Distribution-API-Version")}, nil
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

// registryToken exchanges a pair at the token endpoint for the scopes; ""
// when refused.
func registryToken(t *testing.T, srv *emulator.Server, user, pass string, scopes ...string) string {
	t.Helper()
	q := url.Values{"service": {"registry.emulator"}, "scope": scopes}
	a := mustGet(t, srv, "/service/token?"+q.Encode(), basic(user, pass))
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

// The registry is Distribution behind the token service: /v2/ challenges
// Bearer, the token service takes a minted pair only, Distribution verifies
// what it signed, and nothing of a credential reaches the call log.
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
	short, err := srv.MintToken("cri-short", emulator.DefaultCredential.AccessKeyID)
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
	for _, tc := range []struct {
		name, authz string
		status      int
	}{
		{"issued registry token", "Bearer " + tok, 200},
		{"tampered registry token", "Bearer " + tok[:len(tok)-4] + "AAAA", 401},
		{"the password as a bearer token", "Bearer " + pass, 401},
		{"basic auth on a bearer registry", basic(user, pass), 401},
	} {
		if a := mustGet(t, srv, "/v2/", tc.authz); a.status != tc.status || (tc.status == 200 && a.body != "{}") {
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
	if registryToken(t, srv, user, pass) != "" {
		t.Fatal("a refusing token service accepted a credential")
	}
	srv.SetRegistryRefuse(false)
	if registryToken(t, srv, user, pass) == "" {
		t.Fatal("the pair is refused after the refusal ended")
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
	if c := calls[1]; c.Action != "Token" || c.Query.Get("service") != "registry.emulator" || c.Status != 200 || c.Code != "" ||
		c.AccessKeyID != emulator.DefaultCredential.AccessKeyID {
		t.Fatalf("second call: %s %v %d %s by %q", c.Action, c.Query, c.Status, c.Code, c.AccessKeyID)
	}
}

// pullWith lists the tags of repo with a pair, through go-containerregistry.
func pullWith(srv *emulator.Server, tok emulator.Token, repo string) ([]string, error) {
	r, err := name.NewRepository(srv.RegistryHost()+"/"+repo, name.Insecure)
	if err != nil {
		return nil, err
	}
	return remote.List(r, remote.WithAuth(&authn.Basic{Username: tok.Username, Password: tok.Password}))
}

func statusOf(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

// A token may pull or push what RAM lets its minter do, judged on the
// repository's ARN under the token's instance: an identity without a grant
// logs in but gets 401 insufficient_scope; with pull it lists tags, gets 404
// for a repository that does not exist, and still may not push; assumed
// roles are judged as the role.
func TestRegistryGrants(t *testing.T) {
	ci := emulator.Credential{AccessKeyID: "LTAIpublisher", AccessKeySecret: "publisher-secret"}
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{emulator.DefaultCredential, ci}})
	srv.AddInstance(emulator.Instance{ID: "cri-reg", RegionID: "cn-shanghai"})
	srv.AddInstance(emulator.Instance{ID: "cri-other"})
	ctx := context.Background()
	if _, err := srv.PushImage(ctx, "cri-reg", ci.AccessKeyID, "team/web", "v1"); err == nil {
		t.Fatal("a push without a grant succeeded")
	}
	for _, a := range []string{emulator.ActionPull, emulator.ActionPush} {
		if err := srv.Grant(ci.AccessKeyID, a, "acs:cr:*:*:repository/cri-reg/team/*"); err != nil {
			t.Fatal(err)
		}
	}
	digest, err := srv.PushImage(ctx, "cri-reg", ci.AccessKeyID, "team/web", "v1")
	if err != nil || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("push with a grant: %v", err)
	}

	puller := emulator.DefaultCredential.AccessKeyID
	tok, _ := srv.MintToken("cri-reg", puller)
	if _, err := pullWith(srv, tok, "team/web"); statusOf(err) != 401 {
		t.Fatalf("pull without a grant: %v, want 401", err)
	}
	// The challenge of a token without the scope says why.
	bearer := registryToken(t, srv, tok.Username, tok.Password, "repository:team/web:pull")
	if a := mustGet(t, srv, "/v2/team/web/tags/list", "Bearer "+bearer); a.status != 401 || !strings.Contains(a.challenge, `error="insufficient_scope"`) ||
		!strings.Contains(a.challenge, `scope="repository:team/web:pull"`) {
		t.Fatalf("tags/list without pull: %d %q", a.status, a.challenge)
	}
	if a := mustGet(t, srv, "/v2/", "Bearer "+bearer); a.status != 200 {
		t.Fatalf("the login of an identity without pull: %d", a.status)
	}

	if err := srv.Grant(puller, emulator.ActionPull, "acs:cr:cn-shanghai:1234567890123456:repository/cri-reg/team/web"); err != nil {
		t.Fatal(err)
	}
	if tags, err := pullWith(srv, tok, "team/web"); err != nil || len(tags) != 1 || tags[0] != "v1" {
		t.Fatalf("pull with a grant: %v %v", tags, err)
	}
	ref, _ := name.ParseReference(srv.RegistryHost()+"/team/web:v1", name.Insecure)
	if d, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: tok.Username, Password: tok.Password})); err != nil || d.Digest.String() != digest {
		t.Fatalf("manifest: %v", err)
	}
	for _, tc := range []struct {
		name   string
		tok    emulator.Token
		repo   string
		status int
	}{
		{"another repository of the namespace", tok, "team/api", 401},
		{"a repository that does not exist", func() emulator.Token { t, _ := srv.MintToken("cri-reg", ci.AccessKeyID); return t }(), "team/nope", 404},
		{"the same repository under another instance", func() emulator.Token { t, _ := srv.MintToken("cri-other", puller); return t }(), "team/web", 401},
	} {
		if _, err := pullWith(srv, tc.tok, tc.repo); statusOf(err) != tc.status {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.status)
		}
	}
	img, _ := random.Image(64, 1)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: tok.Username, Password: tok.Password})); statusOf(err) != 401 {
		t.Errorf("a push with pull only: %v, want 401", err)
	}

	// An assumed role's session is judged as the role, never as its key.
	srv.AddRole(minter, puller)
	out, err := assumeRole(t, srv, emulator.DefaultCredential, minter, 3600)
	if err != nil {
		t.Fatal(err)
	}
	session, _ := srv.MintToken("cri-reg", out.Credentials.AccessKeyId)
	if _, err := pullWith(srv, session, "team/web"); statusOf(err) != 401 {
		t.Fatalf("a session of a role without pull: %v", err)
	}
	if err := srv.Grant(minter, emulator.ActionPull, "acs:cr:*:*:repository/cri-reg/*"); err != nil {
		t.Fatal(err)
	}
	if _, err := pullWith(srv, session, "team/web"); err != nil {
		t.Fatalf("a session of a role with pull: %v", err)
	}

	for _, bad := range []func() error{
		func() error { return srv.Grant(puller, "cr:DeleteRepository", "acs:cr:*:*:repository/cri-reg/*") },
		func() error { return srv.Grant(puller, emulator.ActionPull, "repository/cri-reg/*") },
		func() error { return srv.Grant("", emulator.ActionPull, "acs:cr:*:*:repository/cri-reg/*") },
		func() error { return srv.Grant(puller, emulator.ActionPull) },
	} {
		if bad() == nil {
			t.Error("Grant accepted a statement it cannot judge")
		}
	}
}

// A Personal Edition token is judged on acs:cr:<region>:<account>:repository/<namespace>/<name>.
func TestRegistryPersonalGrants(t *testing.T) {
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred, emulator.DefaultCredential}})
	srv.AddInstance(emulator.Instance{ID: "cri-push"})
	if _, err := srv.Publish(context.Background(), "cri-push", "team/web", "v1"); err != nil {
		t.Fatal(err)
	}
	user, pass, _, err := personalToken(t, srv, stsCred)
	if err != nil {
		t.Fatal(err)
	}
	tok := emulator.Token{Username: user, Password: pass}
	if _, err := pullWith(srv, tok, "team/web"); statusOf(err) != 401 {
		t.Fatalf("personal token without a grant: %v", err)
	}
	_ = srv.Grant(stsCred.AccessKeyID, emulator.ActionPull, "acs:cr:cn-hangzhou:*:repository/team/*")
	if _, err := pullWith(srv, tok, "team/web"); err != nil {
		t.Fatalf("personal token with a grant: %v", err)
	}
}

// Publish pushes as a CI job would and leaves no call behind: the image is
// there for an identity granted pull.
func TestPublish(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddInstance(emulator.Instance{ID: "cri-pub"})
	digest, err := srv.Publish(context.Background(), "cri-pub", "team/web", "v1")
	if err != nil || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("Publish: %q, %v", digest, err)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls left after Publish, want none", n)
	}
	_ = srv.Grant("LTAIpuller", emulator.ActionPull, "acs:cr:*:*:repository/cri-pub/*")
	tok, err := srv.MintToken("cri-pub", "LTAIpuller")
	if err != nil {
		t.Fatal(err)
	}
	if tags, err := pullWith(srv, tok, "team/web"); err != nil || len(tags) != 1 || tags[0] != "v1" {
		t.Errorf("the published repository lists %v, %v; want [v1]", tags, err)
	}
	if _, err := srv.Publish(context.Background(), "cri-none", "team/web", "v1"); err == nil {
		t.Error("Publish to an unknown instance succeeded")
	}
}

func TestMintToken(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddInstance(emulator.Instance{ID: "cri-reg"})
	tok, err := srv.MintToken("cri-reg", "LTAIsomeone")
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Tokens(); len(got) != 1 || got[0] != tok || tok.Username != "cr_temp_user" || tok.AccessKeyID != "LTAIsomeone" ||
		time.Until(tok.ExpiresAt) < 59*time.Minute {
		t.Fatal("MintToken did not mint as GetAuthorizationToken does")
	}
	if _, err := srv.MintToken("cri-missing", "LTAIsomeone"); err == nil {
		t.Fatal("MintToken of an unknown instance succeeded")
	}
}

// SetRegistryRealm replaces the realm of every challenge, Distribution's
// included; "" restores the token service's.
func TestRegistryRealm(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.SetRegistryRealm("http://203.0.113.9/token")
	for _, p := range []string{"/v2/", "/v2/team/web/tags/list"} {
		if a := mustGet(t, srv, p, ""); a.status != 401 || !strings.HasPrefix(a.challenge, `Bearer realm="http://203.0.113.9/token",service="registry.emulator"`) {
			t.Fatalf("%s: realm not set: %q", p, a.challenge)
		}
	}
	srv.SetRegistryRealm("")
	if a := mustGet(t, srv, "/v2/", ""); !strings.Contains(a.challenge, srv.URL()+"/service/token") {
		t.Fatalf("realm not restored: %q", a.challenge)
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
	srv.SetFault("ListTags", emulator.Fault{Fail: 1, FailStatus: 502})
	if a := mustGet(t, srv, "/v2/team/web/tags/list", ""); a.status != 502 {
		t.Fatalf("a ListTags fault: %d", a.status)
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
