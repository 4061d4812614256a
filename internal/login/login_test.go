package login_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/login"
)

func TestLogin(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, srv *emulator.Server)
		badPass bool
		logins  []want // consecutive logins with the same credential
		actions string // the registry calls of the first login
	}{
		{name: "bearer accepted", logins: []want{{ok: true}}, actions: "Ping:401 Token:200 Ping:200"},
		{
			name: "latency", setup: func(t *testing.T, srv *emulator.Server) {
				srv.SetFault("registry", emulator.Fault{Latency: 20 * time.Millisecond})
			},
			logins: []want{{ok: true}},
		},
		{
			name: "wrong password", badPass: true,
			logins:  []want{{rejected: true, status: 401, code: "UNAUTHORIZED", text: "token endpoint answered HTTP 401"}},
			actions: "Ping:401 Token:401",
		},
		{
			name:   "registry refuses",
			setup:  func(t *testing.T, srv *emulator.Server) { srv.SetRegistryRefuse(true) },
			logins: []want{{rejected: true, status: 401, code: "UNAUTHORIZED", text: "token endpoint answered HTTP 401"}},
		},
		{
			name: "token endpoint 503 then recovery",
			setup: func(t *testing.T, srv *emulator.Server) {
				srv.SetFault("Token", emulator.Fault{Fail: 1, FailStatus: 503})
			},
			logins:  []want{{transient: true, status: 503, code: "HTTP503", text: "token endpoint answered HTTP 503"}, {ok: true}},
			actions: "Ping:401 Token:503",
		},
		{
			name: "registry 503 twice then recovery",
			setup: func(t *testing.T, srv *emulator.Server) {
				srv.SetFault("registry", emulator.Fault{Fail: 2, FailStatus: 503})
			},
			logins: []want{
				{transient: true, status: 503, code: "HTTP503", text: "ping (GET /v2/) answered HTTP 503"},
				{transient: true, status: 503, code: "HTTP503", text: "ping (GET /v2/) answered HTTP 503"},
				{ok: true},
			},
			actions: "Ping:503",
		},
		{
			name: "throttled then recovery",
			setup: func(t *testing.T, srv *emulator.Server) {
				srv.SetFault("Token", emulator.Fault{Throttle: 1})
			},
			logins: []want{{throttled: true, status: 429, code: "TOOMANYREQUESTS", text: "token endpoint answered HTTP 429"}, {ok: true}},
		},
		{
			name: "expired token",
			setup: func(t *testing.T, srv *emulator.Server) {
				srv.AddInstance(emulator.Instance{ID: instanceID, TokenTTL: time.Millisecond})
			},
			logins: []want{{rejected: true, status: 401, code: "UNAUTHORIZED", text: "token endpoint answered HTTP 401"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t)
			if tc.setup != nil {
				tc.setup(t, srv)
			}
			tok := mint(t, srv, instanceID)
			time.Sleep(2 * time.Millisecond) // lets a 1ms token expire
			pass := tok.Password
			if tc.badPass {
				pass = "not-" + tok.Password[4:]
			}
			c := checker(t, srv.URL(), 10*time.Second)
			for i, w := range tc.logins {
				err := c.Login(context.Background(), domain, tok.Username, pass, "")
				check(t, i, err, pass, w)
				if i == 0 && tc.actions != "" {
					if got := registryActions(srv); got != tc.actions {
						t.Fatalf("registry calls %q, want %q", got, tc.actions)
					}
				}
			}
			assertCallLogClean(t, srv, tok.Password, pass)
		})
	}
}

// TestLoginNoAnswer: failures without an HTTP answer are Transient with
// status 0, and a hanging registry is given up on at the timeout.
func TestLoginNoAnswer(t *testing.T) {
	srv := start(t)
	tok := mint(t, srv, instanceID)

	t.Run("unreachable", func(t *testing.T) {
		c := checker(t, "http://"+closedPort(t), 5*time.Second)
		err := c.Login(context.Background(), domain, tok.Username, tok.Password, "")
		check(t, 0, err, tok.Password, want{transient: true, text: "ping (GET /v2/): no answer (connection failed)"})
	})
	t.Run("hang", func(t *testing.T) {
		srv.SetFault("registry", emulator.Fault{Hang: true})
		defer srv.ClearFaults()
		const timeout = 300 * time.Millisecond
		c := checker(t, srv.URL(), timeout)
		begin := time.Now()
		err := c.Login(context.Background(), domain, tok.Username, tok.Password, "")
		if took := time.Since(begin); took > timeout+2*time.Second {
			t.Fatalf("login took %v with a timeout of %v", took, timeout)
		}
		check(t, 0, err, tok.Password, want{transient: true, text: "no answer within 300ms (timed out)"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want DeadlineExceeded, got %s", redact(err, tok.Password))
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		srv.SetFault("Token", emulator.Fault{Hang: true})
		defer srv.ClearFaults()
		c := checker(t, srv.URL(), time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		begin := time.Now()
		err := c.Login(ctx, domain, tok.Username, tok.Password, "")
		if took := time.Since(begin); took > 5*time.Second {
			t.Fatalf("cancelled login took %v", took)
		}
		check(t, 0, err, tok.Password, want{text: "token endpoint: cancelled"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want Canceled, got %s", redact(err, tok.Password))
		}
	})
	t.Run("https to a plain http server", func(t *testing.T) {
		// No endpoint: the login goes to https://<domain>, and only there.
		srv.ResetCalls()
		c := checker(t, "", 5*time.Second)
		host := strings.TrimPrefix(srv.URL(), "http://")
		err := c.Login(context.Background(), host, tok.Username, tok.Password, "")
		var le *login.Error
		if !errors.As(err, &le) || !le.Transient() || le.HTTPStatus() != 0 {
			t.Fatalf("want a transient *login.Error without status, got %s", redact(err, tok.Password))
		}
		assertClean(t, err, tok.Password)
		t.Logf("%s", redact(err, tok.Password))
		if got := registryActions(srv); got != "" {
			t.Fatalf("plain http was used: %q", got)
		}
	})
}

// TestLoginPlainHTTPRealm: a challenge naming a plain-http token endpoint
// off loopback is refused before any connection (203.0.113.9 is TEST-NET-3:
// a connection attempt would hang until the timeout).
func TestLoginPlainHTTPRealm(t *testing.T) {
	srv := start(t)
	tok := mint(t, srv, instanceID)
	srv.SetRegistryRealm("http://203.0.113.9/token")
	c := checker(t, srv.URL(), 10*time.Second)
	begin := time.Now()
	err := c.Login(context.Background(), domain, tok.Username, tok.Password, "")
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("refusal took %v: a connection was attempted", took)
	}
	check(t, 0, err, tok.Password, want{text: "refused: the token endpoint is plain http off loopback"})
	if got := registryActions(srv); got != "Ping:401" {
		t.Fatalf("registry calls %q, want only the ping", got)
	}
}

func TestLoginInput(t *testing.T) {
	srv := start(t)
	tok := mint(t, srv, instanceID)
	c := checker(t, srv.URL(), 5*time.Second)
	tests := []struct{ domain, user, pass, text string }{
		{domain, tok.Username, "", "empty username or password"},
		{domain, "", tok.Password, "empty username or password"},
		{"https://" + domain, tok.Username, tok.Password, "not a registry domain"},
		{domain + "/v2", tok.Username, tok.Password, "not a registry domain"},
	}
	for i, tc := range tests {
		err := c.Login(context.Background(), tc.domain, tc.user, tc.pass, "")
		var le *login.Error
		if !errors.As(err, &le) || le.Rejected() || le.Transient() || !strings.Contains(err.Error(), tc.text) {
			t.Fatalf("%d: want a non-transient %q, got %s", i, tc.text, redact(err, tok.Password))
		}
		assertClean(t, err, tok.Password)
	}
	if got := registryActions(srv); got != "" {
		t.Fatalf("bad input reached the registry: %q", got)
	}
}

func TestNewChecker(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"", true},
		{"https://example.com", true},
		{"https://example.com:8443/", true},
		{"http://127.0.0.1:1234", true},
		{"http://127.8.9.10:1234", true},
		{"http://localhost:5000", true},
		{"http://[::1]:5000", true},
		{"http://example.com", false},
		{"http://10.0.0.1:5000", false},
		{"http://localhost.example.com", false},
		{"ftp://example.com", false},
		{"example.com", false},
		{"https://example.com/prefix", false},
		{"https://user:hunter2@example.com", false},
	}
	for _, tc := range tests {
		_, err := login.NewChecker(tc.endpoint, time.Second)
		if (err == nil) != tc.ok {
			t.Fatalf("NewChecker(%q): err %v, want ok %v", tc.endpoint, err, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), login.EnvEndpoint) || strings.Contains(err.Error(), "hunter2")) {
			t.Fatalf("NewChecker(%q): %v should name %s and hide user info", tc.endpoint, err, login.EnvEndpoint)
		}
	}
	if _, err := login.NewChecker("", 0); err == nil {
		t.Fatal("NewChecker accepted a zero timeout")
	}
}

// TestLoginConcurrent: one Checker serves concurrent logins (run with -race).
func TestLoginConcurrent(t *testing.T) {
	srv := start(t)
	c := checker(t, srv.URL(), 10*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	toks := make([]emulator.Token, len(errs))
	for i := range errs {
		toks[i] = mint(t, srv, instanceID)
		pass := toks[i].Password
		if i%2 == 1 {
			pass += "x"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Login(context.Background(), domain, toks[i].Username, pass, "")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var le *login.Error
		if i%2 == 0 && err != nil || i%2 == 1 && !(errors.As(err, &le) && le.Rejected()) {
			t.Fatalf("login %d: %s", i, redact(err, toks[i].Password))
		}
	}
}

// TestErrorTextsAreClean: whatever way a login fails, no rendering of its
// error holds the password or anything the registry answered.
func TestErrorTextsAreClean(t *testing.T) {
	srv := start(t)
	tok := mint(t, srv, instanceID)
	c := checker(t, srv.URL(), 2*time.Second)
	scenarios := []func(){
		func() { srv.SetFault("Token", emulator.Fault{Fail: 1, FailStatus: 503}) },
		func() { srv.SetFault("registry", emulator.Fault{Throttle: 1}) },
		func() { srv.SetFault("registry", emulator.Fault{Fail: 1}) },
		func() { srv.SetRegistryRefuse(true) },
		func() { srv.SetRegistryRealm("http://203.0.113.9/token") },
	}
	for i, scenario := range scenarios {
		srv.ClearFaults()
		srv.SetRegistryRefuse(false)
		srv.SetRegistryRealm("")
		scenario()
		for _, pass := range []string{tok.Password, tok.Password + "x"} {
			err := c.Login(context.Background(), domain, tok.Username, pass, "")
			if err == nil {
				t.Fatalf("scenario %d: login succeeded", i)
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				assertClean(t, errors.New(text), tok.Password)
			}
		}
	}
}
