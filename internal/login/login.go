// Package login proves a registry credential before it is written anywhere:
// it logs in to a registry domain as `docker login` does, with the Docker
// Registry HTTP API v2 handshake (GET /v2/, the WWW-Authenticate challenge,
// then the token endpoint for Bearer or GET /v2/ with Basic auth), or, given
// a repository, proves that the credential can pull it (a token for scope
// repository:<name>:pull, then GET /v2/<name>/tags/list).
//
// The handshake itself (ping, challenge parsing, token exchange, listing
// tags) is done by github.com/google/go-containerregistry; this package adds the endpoint
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
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
// host[:port]). With repository "", as `docker login` does: the login
// succeeds when GET /v2/ with the credential (or the registry token it was
// exchanged for) answers 200. With a repository (namespace/name), the proof
// is a pull: the credential is exchanged at the challenge's token endpoint
// for scope repository:<repository>:pull, and GET
// /v2/<repository>/tags/list must answer 200; a 401, 403 (insufficient
// scope included) or 404 there is a rejection that names the repository.
// It does not retry. Any failure is an *Error.
func (c *Checker) Login(ctx context.Context, domain, username, password, repository string) error {
	l := &attempt{c: c, domain: domain, parent: ctx, repo: repository}
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
	var scopes []string
	if repository != "" {
		r, err := name.NewRepository(reg.RegistryStr()+"/"+repository, opts...)
		if err != nil || !repositoryName.MatchString(repository) {
			return l.fail(stepInput, errBadRepository)
		}
		l.repository = r
		scopes = []string{r.Scope(transport.PullScope)}
	}
	l.base = url.URL{Scheme: scheme, Host: reg.RegistryStr()}
	l.guard = &guard{base: c.base, registry: l.base}
	rt := transport.NewUserAgent(l.guard, userAgent)
	auth := &authn.Basic{Username: username, Password: password}

	ch, err := transport.Ping(ctx, reg, rt)
	if err != nil {
		return l.fail(stepPing, err)
	}
	// The registry's own requests after the ping keep its configured scheme.
	onBase := &onScheme{inner: rt, base: l.base}
	var authed http.RoundTripper
	switch strings.ToLower(ch.Scheme) {
	case "bearer":
		if realm, err := url.Parse(ch.Parameters["realm"]); err == nil && realm.Scheme == "http" && !overrides.IsLoopback(realm.Hostname()) {
			// Checked before any request: the credential must not leave in clear.
			return l.fail(l.tokenStep(), errPlainHTTP)
		}
		tok, err := transport.Exchange(ctx, reg, auth, rt, scopes, ch)
		if err != nil {
			return l.fail(l.tokenStep(), err)
		}
		if tok.Token == "" {
			tok.Token = tok.AccessToken // some token servers only set access_token
		}
		if authed, err = transport.FromToken(reg, auth, onBase, ch, tok); err != nil {
			return l.fail(l.tokenStep(), err)
		}
	case "basic", "":
		// "" is a registry that answered the ping with 200 (no auth) or a 401
		// without a challenge: docker login then sends Basic auth, and so do we.
		if authed, err = transport.FromToken(reg, auth, onBase, ch, nil); err != nil {
			return l.fail(stepPing, err)
		}
	default:
		return l.fail(stepPing, errUnsupportedChallenge)
	}
	if repository != "" {
		return l.pull(authed)
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

// pull lists the repository's tags through the authenticated transport with
// go-containerregistry's lister, one page of one tag: 200 means the token
// may pull it. The transport is a transport.Wrapper, so remote adds neither
// a second handshake nor retries.
func (l *attempt) pull(rt http.RoundTripper) error {
	p, err := remote.NewPuller(remote.WithTransport(rt), remote.WithPageSize(1))
	if err == nil {
		_, err = p.Lister(l.ctx, l.repository)
	}
	if err != nil {
		return l.fail(l.pullStep(), err)
	}
	return nil
}

// onScheme sends the registry's own requests in its configured scheme:
// go-containerregistry picks http for loopback and private IP literals
// (name.Registry.Scheme), which guard would refuse on an https registry.
type onScheme struct {
	inner http.RoundTripper
	base  url.URL
}

func (o *onScheme) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == o.base.Host && r.URL.Scheme != o.base.Scheme && strings.HasPrefix(r.URL.Path, "/v2/") {
		r = r.Clone(r.Context())
		r.URL.Scheme = o.base.Scheme
	}
	return o.inner.RoundTrip(r)
}

// repositoryName is a repository path of at least two components
// (namespace/name), each as the OCI distribution specification's name
// grammar allows: no tag, no digest, no registry.
var repositoryName = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)

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
	errBadRepository        = errors.New("invalid repository")
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
