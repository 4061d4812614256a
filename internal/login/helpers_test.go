package login_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/login"
)

const instanceID = "cri-login"

// domain is the instance's internet domain: what a login is for; with the
// endpoint set, the requests go to the emulator.
const domain = instanceID + "-registry.cn-hangzhou.cr.aliyuncs.com"

// prober is the identity the tests' tokens are minted for: RAM grants it
// pull where a test says so.
const prober = "LTAIprober"

// The registry's error bodies and challenges: none of it may reach an error text.
var bodyFragments = []string{
	"authentication required", "service unavailable", "too many requests", "unknown error", "insufficient_scope",
	"repository name not known", "NAME_UNKNOWN", `"errors"`, "realm", "registry.emulator", "/service/token", "203.0.113.9",
	"Bearer", "Basic",
}

func start(t *testing.T) *emulator.Server {
	t.Helper()
	srv, err := emulator.Start(emulator.Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	srv.AddInstance(emulator.Instance{ID: instanceID})
	return srv
}

func mint(t *testing.T, srv *emulator.Server, instance string) emulator.Token {
	t.Helper()
	tok, err := srv.MintToken(instance, prober)
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	return tok
}

func checker(t *testing.T, endpoint string, timeout time.Duration) *login.Checker {
	t.Helper()
	c, err := login.NewChecker(endpoint, timeout)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	return c
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// want is the expected outcome of one login.
type want struct {
	ok                             bool
	rejected, transient, throttled bool
	status                         int
	code                           string
	text                           string // a part of the error text
	domain                         string // the domain the error names; "" is the instance's
}

func (w want) domainOr() string {
	if w.domain != "" {
		return w.domain
	}
	return domain
}

// check asserts a login's outcome. Failure output shows the error text with
// the password cut out, never the password.
func check(t *testing.T, i int, err error, pass string, w want) {
	t.Helper()
	if w.ok {
		if err != nil {
			t.Fatalf("login %d: want success, got %s", i, redact(err, pass))
		}
		return
	}
	var le *login.Error
	if !errors.As(err, &le) {
		t.Fatalf("login %d: want *login.Error, got %T", i, err)
	}
	text := redact(err, pass)
	t.Logf("login %d: %s", i, text)
	if le.Rejected() != w.rejected || le.Transient() != w.transient || le.Throttled() != w.throttled {
		t.Fatalf("login %d: rejected/transient/throttled = %v/%v/%v, want %v/%v/%v (%s)",
			i, le.Rejected(), le.Transient(), le.Throttled(), w.rejected, w.transient, w.throttled, text)
	}
	if le.HTTPStatus() != w.status || le.ErrorCode() != w.code || le.ServerMessage() != "" {
		t.Fatalf("login %d: status %d code %q, want %d %q (%s)", i, le.HTTPStatus(), le.ErrorCode(), w.status, w.code, text)
	}
	if !strings.Contains(err.Error(), w.text) || !strings.Contains(err.Error(), w.domainOr()) {
		t.Fatalf("login %d: error %q should name %q and the domain", i, text, w.text)
	}
	assertClean(t, err, pass)
}

func redact(err error, pass string) string {
	if err == nil {
		return "<nil>"
	}
	return strings.ReplaceAll(err.Error(), pass, "<password>")
}

// assertClean: no error text holds the password or any part of what the
// registry answered.
func assertClean(t *testing.T, err error, pass string) {
	t.Helper()
	if strings.Contains(err.Error(), pass) {
		t.Fatalf("error text contains the password: %s", redact(err, pass))
	}
	for _, f := range bodyFragments {
		if strings.Contains(err.Error(), f) {
			t.Fatalf("error text quotes the registry's answer (%q): %s", f, redact(err, pass))
		}
	}
}

// registryActions is the registry's call log so far as "Action:status ...".
func registryActions(srv *emulator.Server) string {
	var out []string
	for _, c := range srv.Calls() {
		if c.Product == "registry" {
			out = append(out, c.Action+":"+strconv.Itoa(c.Status))
		}
	}
	return strings.Join(out, " ")
}

// assertCallLogClean: the emulator recorded no credential.
func assertCallLogClean(t *testing.T, srv *emulator.Server, secrets ...string) {
	t.Helper()
	for _, c := range srv.Calls() {
		for _, vs := range c.Query {
			for _, v := range vs {
				for _, s := range secrets {
					if strings.Contains(v, s) {
						t.Fatalf("the call log of %s %s holds a credential", c.Product, c.Action)
					}
				}
			}
		}
	}
}
