// Package login proves a registry credential before it is written anywhere:
// it logs in to a registry domain as `docker login` does, with the Docker
// Registry HTTP API v2 handshake (GET /v2/, the WWW-Authenticate challenge,
// then the token endpoint for Bearer or GET /v2/ with Basic auth).
//
// The handshake itself (ping, challenge parsing, token exchange) is done by
// github.com/google/go-containerregistry; this package adds the endpoint
// override, the plain-http policy, the time bound and errors that never
// carry a credential or anything the registry answered.
package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	overrides "github.com/sae-secret-rotator/rotator/internal/endpoint"
)

// EnvEndpoint names the environment variable that sends every login to one
// URL in place of https://<domain> (tests and the demo point it at the
// emulator). Empty: each login goes to https://<domain>.
const EnvEndpoint = "ROTATOR_REGISTRY_ENDPOINT"

const userAgent = "sae-secret-rotator"

// Checker logs in to registries. Safe for concurrent use.
type Checker struct {
	endpoint *url.URL // nil: https://<domain>
	timeout  time.Duration
	base     http.RoundTripper // shared connection pool
}

// NewChecker returns a Checker. endpoint is the value of EnvEndpoint: empty,
// or an http(s) URL without a path; plain http only to a loopback host.
// timeout bounds one login, all of its requests together.
func NewChecker(endpoint string, timeout time.Duration) (*Checker, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("registry login: timeout must be positive, got %v", timeout)
	}
	c := &Checker{timeout: timeout}
	if endpoint != "" {
		u, err := parseEndpoint(endpoint)
		if err != nil {
			return nil, err
		}
		c.endpoint = u
	}
	// No redirect to another host (a token endpoint is reached as the
	// challenge names it, never by a redirect).
	c.base = overrides.NoRedirectAway{Base: http.DefaultTransport.(*http.Transport).Clone()}
	return c, nil
}

func parseEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		// The parse error quotes the value, which might hold user info.
		return nil, fmt.Errorf("%s: not a URL", EnvEndpoint)
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%s %q: the scheme must be https (or http to a loopback address)", EnvEndpoint, shown)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%s %q: no host", EnvEndpoint, shown)
	case u.User != nil:
		return nil, fmt.Errorf("%s %q: user info is not allowed", EnvEndpoint, shown)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%s %q: must not have a path, query or fragment", EnvEndpoint, shown)
	case u.Scheme == "http" && !overrides.IsLoopback(u.Hostname()):
		return nil, fmt.Errorf("%s %q: plain http is allowed for loopback addresses only (127.0.0.0/8, ::1, localhost)", EnvEndpoint, shown)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// Login proves username/password against the registry at domain (a
// host[:port]): the login succeeds when GET /v2/ with the credential (or the
// registry token it was exchanged for) answers 200. It does not retry. Any
// failure is an *Error.
func (c *Checker) Login(ctx context.Context, domain, username, password string) error {
	l := &attempt{c: c, domain: domain, parent: ctx}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	l.ctx = ctx
	if username == "" || password == "" {
		return l.fail(stepInput, errEmptyCredential)
	}
	if _, err := name.NewRegistry(domain, name.StrictValidation); err != nil || strings.Contains(domain, "/") {
		return l.fail(stepInput, errBadDomain)
	}
	scheme, host := "https", domain
	if c.endpoint != nil {
		scheme, host = c.endpoint.Scheme, c.endpoint.Host
	}
	// The library talks to the host it is given, so with an endpoint that is
	// the endpoint's host: its SSRF guard accepts a private realm (such as
	// the emulator's) only on the registry's own host. Insecure lets it probe
	// http at all; guard refuses whatever scheme the base URL does not use.
	opts := []name.Option{name.StrictValidation}
	if scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return l.fail(stepInput, errBadDomain)
	}
	l.base = url.URL{Scheme: scheme, Host: reg.RegistryStr()}
	l.guard = &guard{base: c.base, registry: l.base}
	rt := transport.NewUserAgent(l.guard, userAgent)
	auth := &authn.Basic{Username: username, Password: password}

	ch, err := transport.Ping(ctx, reg, rt)
	if err != nil {
		return l.fail(stepPing, err)
	}
	var authed http.RoundTripper
	switch strings.ToLower(ch.Scheme) {
	case "bearer":
		if realm, err := url.Parse(ch.Parameters["realm"]); err == nil && realm.Scheme == "http" && !overrides.IsLoopback(realm.Hostname()) {
			// Checked before any request: the credential must not leave in clear.
			return l.fail(stepToken, errPlainHTTP)
		}
		tok, err := transport.Exchange(ctx, reg, auth, rt, nil, ch)
		if err != nil {
			return l.fail(stepToken, err)
		}
		if tok.Token == "" {
			tok.Token = tok.AccessToken // some token servers only set access_token
		}
		if authed, err = transport.FromToken(reg, auth, rt, ch, tok); err != nil {
			return l.fail(stepToken, err)
		}
	case "basic", "":
		// "" is a registry that answered the ping with 200 (no auth) or a 401
		// without a challenge: docker login then sends Basic auth, and so do we.
		if authed, err = transport.FromToken(reg, auth, rt, ch, nil); err != nil {
			return l.fail(stepPing, err)
		}
	default:
		return l.fail(stepPing, errUnsupportedChallenge)
	}
	return l.confirm(authed)
}

// confirm sends GET /v2/ through the authenticated transport: 200 means the
// registry accepted the credential.
func (l *attempt) confirm(rt http.RoundTripper) error {
	req, err := http.NewRequestWithContext(l.ctx, http.MethodGet, l.base.Scheme+"://"+l.base.Host+"/v2/", nil)
	if err != nil {
		return l.fail(stepConfirm, err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return l.fail(stepConfirm, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return l.failStatus(stepConfirm, resp.StatusCode)
	}
	return nil
}

// guard is the base transport of every login. It refuses, before anything
// is sent, plain http to a host that is not loopback (the token endpoint a
// challenge names, a redirect), and a ping of the registry in the scheme the
// base URL does not use (the library probes both https and http for local
// registries; only the configured scheme is allowed).
type guard struct {
	base     http.RoundTripper
	registry url.URL // scheme and host that /v2/ is served on

	mu      sync.Mutex
	failure error // the latest error of the base transport: no answer came
}

var (
	errPlainHTTP            = errors.New("plain http off loopback refused")
	errWrongScheme          = errors.New("scheme not configured for this registry")
	errEmptyCredential      = errors.New("empty username or password")
	errBadDomain            = errors.New("invalid registry domain")
	errUnsupportedChallenge = errors.New("unsupported authentication challenge")
)

func (g *guard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == g.registry.Host && r.URL.Scheme != g.registry.Scheme {
		closeBody(r)
		return nil, errWrongScheme
	}
	if r.URL.Scheme == "http" && !overrides.IsLoopback(r.URL.Hostname()) {
		closeBody(r)
		return nil, errPlainHTTP
	}
	resp, err := g.base.RoundTrip(r)
	if err != nil {
		g.mu.Lock()
		g.failure = err
		g.mu.Unlock()
	}
	return resp, err
}

// baseFailure is the latest error of the base transport, nil if none.
func (g *guard) baseFailure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failure
}

// closeBody honours the RoundTripper contract on an early return.
func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}
