package login_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/login"
)

// publisher pushes the image the pulls are proven on.
const publisher = "LTAIpublisher"

// startWithImage is start with team/web:v1 pushed to the instance.
func startWithImage(t *testing.T) *emulator.Server {
	t.Helper()
	srv := start(t)
	for _, a := range []string{emulator.ActionPull, emulator.ActionPush} {
		if err := srv.Grant(publisher, a, "acs:cr:*:*:repository/"+instanceID+"/*"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.PushImage(context.Background(), instanceID, publisher, "team/web", "v1"); err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()
	return srv
}

func grantPull(t *testing.T, srv *emulator.Server, resource string) {
	t.Helper()
	if err := srv.Grant(prober, emulator.ActionPull, resource); err != nil {
		t.Fatal(err)
	}
}

// With a repository, the proof is a pull: the token endpoint is asked for
// the pull scope, and tags/list must answer 200. A token whose minter may
// not pull, a repository that does not exist, or a refused credential is a
// rejection naming the repository, the status and the pull.
func TestPull(t *testing.T) {
	const repo = "team/web"
	tests := []struct {
		name    string
		setup   func(t *testing.T, srv *emulator.Server)
		repo    string
		badPass bool
		want    want
		actions string
	}{
		{
			name: "pull allowed",
			setup: func(t *testing.T, srv *emulator.Server) {
				grantPull(t, srv, "acs:cr:*:*:repository/"+instanceID+"/team/web")
			},
			want:    want{ok: true},
			actions: "Ping:401 Token:200 ListTags:200",
		},
		{
			name: "the minter may not pull",
			want: want{rejected: true, status: 401, code: "UNAUTHORIZED",
				text: "pull of team/web (GET /v2/team/web/tags/list) answered HTTP 401: the token may not pull team/web"},
			// go-containerregistry asks once more for the scope the challenge names.
			actions: "Ping:401 Token:200 ListTags:401 Token:200 ListTags:401",
		},
		{
			name: "pull of another namespace only",
			setup: func(t *testing.T, srv *emulator.Server) {
				grantPull(t, srv, "acs:cr:*:*:repository/"+instanceID+"/other/*")
			},
			want: want{rejected: true, status: 401, code: "UNAUTHORIZED", text: "the token may not pull team/web"},
		},
		{
			name:  "no such repository",
			setup: func(t *testing.T, srv *emulator.Server) { grantPull(t, srv, "acs:cr:*:*:repository/"+instanceID+"/*") },
			repo:  "team/nope",
			want: want{rejected: true, status: 404, code: "HTTP404",
				text: "pull of team/nope (GET /v2/team/nope/tags/list) answered HTTP 404: no repository team/nope that the token may pull"},
			actions: "Ping:401 Token:200 ListTags:404",
		},
		{
			name: "wrong password", badPass: true,
			want:    want{rejected: true, status: 401, code: "UNAUTHORIZED", text: "token endpoint (scope repository:team/web:pull) answered HTTP 401"},
			actions: "Ping:401 Token:401",
		},
		{
			name: "tags/list 503",
			setup: func(t *testing.T, srv *emulator.Server) {
				grantPull(t, srv, "acs:cr:*:*:repository/"+instanceID+"/*")
				srv.SetFault("ListTags", emulator.Fault{Fail: 1, FailStatus: 503})
			},
			want: want{transient: true, status: 503, code: "HTTP503", text: "pull of team/web (GET /v2/team/web/tags/list) answered HTTP 503"},
		},
		{
			name: "token endpoint 503",
			setup: func(t *testing.T, srv *emulator.Server) {
				srv.SetFault("Token", emulator.Fault{Fail: 1, FailStatus: 503})
			},
			want: want{transient: true, status: 503, code: "HTTP503", text: "token endpoint (scope repository:team/web:pull) answered HTTP 503"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWithImage(t)
			if tc.setup != nil {
				tc.setup(t, srv)
			}
			tok := mint(t, srv, instanceID)
			pass := tok.Password
			if tc.badPass {
				pass = "not-" + tok.Password[4:]
			}
			r := tc.repo
			if r == "" {
				r = repo
			}
			err := checker(t, srv.URL(), 10*time.Second).Login(context.Background(), domain, tok.Username, pass, r)
			check(t, 0, err, pass, tc.want)
			var le *login.Error
			if errors.As(err, &le) && (le.Repository != r || !strings.Contains(err.Error(), r) || !strings.Contains(err.Error(), "pull")) {
				t.Fatalf("the error names %q, not the repository %q and the pull: %s", le.Repository, r, redact(err, pass))
			}
			if tc.actions != "" {
				if got := registryActions(srv); got != tc.actions {
					t.Fatalf("registry calls %q, want %q", got, tc.actions)
				}
			}
			for _, c := range srv.Calls() {
				if c.Action == "Token" && c.Query.Get("scope") != "repository:"+r+":pull" {
					t.Fatalf("token asked for scope %q, want the pull of %s", c.Query.Get("scope"), r)
				}
			}
			assertCallLogClean(t, srv, tok.Password, pass)
		})
	}
}

// A repository that is not namespace/name is refused before anything is sent.
func TestPullInput(t *testing.T) {
	srv := start(t)
	tok := mint(t, srv, instanceID)
	c := checker(t, srv.URL(), 5*time.Second)
	for _, repo := range []string{"web", "team/web:v1", "team/web@sha256:00", "Team/Web", "team//web", "/team/web", "team/web/"} {
		err := c.Login(context.Background(), domain, tok.Username, tok.Password, repo)
		var le *login.Error
		if !errors.As(err, &le) || le.Rejected() || le.Transient() || !strings.Contains(err.Error(), "is not a repository to pull") {
			t.Fatalf("%q: want a non-transient input error, got %s", repo, redact(err, tok.Password))
		}
		assertClean(t, err, tok.Password)
	}
	if got := registryActions(srv); got != "" {
		t.Fatalf("bad input reached the registry: %q", got)
	}
}

// The login's guarantees hold for a pull: a plain-http realm off loopback
// is refused before the credential is sent, and a registry that never
// answers the listing is given up on at the timeout.
func TestPullBounds(t *testing.T) {
	srv := startWithImage(t)
	grantPull(t, srv, "acs:cr:*:*:repository/"+instanceID+"/*")
	tok := mint(t, srv, instanceID)

	srv.SetRegistryRealm("http://203.0.113.9/token")
	err := checker(t, srv.URL(), 10*time.Second).Login(context.Background(), domain, tok.Username, tok.Password, "team/web")
	check(t, 0, err, tok.Password, want{text: "refused: the token endpoint (scope repository:team/web:pull) is plain http off loopback"})
	srv.SetRegistryRealm("")

	srv.SetFault("ListTags", emulator.Fault{Hang: true})
	const timeout = 300 * time.Millisecond
	begin := time.Now()
	err = checker(t, srv.URL(), timeout).Login(context.Background(), domain, tok.Username, tok.Password, "team/web")
	if took := time.Since(begin); took > timeout+2*time.Second {
		t.Fatalf("pull took %v with a timeout of %v", took, timeout)
	}
	check(t, 1, err, tok.Password, want{transient: true, text: "pull of team/web (GET /v2/team/web/tags/list): no answer within 300ms (timed out)"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want DeadlineExceeded, got %s", redact(err, tok.Password))
	}
}
