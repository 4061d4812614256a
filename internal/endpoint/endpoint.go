// Package endpoint reads the endpoint overrides of the function's cloud
// clients (ROTATOR_*_ENDPOINT), one rule for every cloud: a bare host means
// HTTPS, a URL may give scheme and port, and plain http is accepted for
// loopback addresses only, so signed requests and the secrets they carry
// never cross a network in clear text. It also holds what every adapter's
// HTTP traffic shares: the connection pool (NewTransport), the binding of
// a request to the invocation (ContextTransport), the refusal of redirects
// elsewhere (NoRedirectAway) and the wording of a failed exchange
// (TransportDetail).
package endpoint

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Endpoint is where an API is reached. The zero value means the client's
// regional default.
type Endpoint struct {
	Scheme string // "https" or "http"
	Host   string // without brackets or port
	Port   string // "" for the scheme's default
}

// Set reports whether an override was given.
func (e Endpoint) Set() bool { return e.Host != "" }

// Address is host[:port], an IPv6 host in brackets.
func (e Endpoint) Address() string {
	if e.Port == "" {
		if strings.Contains(e.Host, ":") {
			return "[" + e.Host + "]"
		}
		return e.Host
	}
	return net.JoinHostPort(e.Host, e.Port)
}

// URL is scheme://host[:port].
func (e Endpoint) URL() string { return e.Scheme + "://" + e.Address() }

// Parse reads an override named name (the variable, for errors); example
// shows a good value. Errors never quote the value: it could hold user info.
func Parse(name, value, example string) (Endpoint, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return Endpoint{}, nil
	}
	if !strings.Contains(value, "://") {
		value = "https://" + value
	}
	u, err := url.Parse(value)
	if err != nil || u.Hostname() == "" {
		return Endpoint{}, fmt.Errorf("%s: not a host or a URL such as %s", name, example)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Endpoint{}, fmt.Errorf("%s: give a host and port only, without path, query or user", name)
	}
	ep := Endpoint{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname(), Port: u.Port()}
	switch ep.Scheme {
	case "https":
	case "http":
		if !IsLoopback(ep.Host) {
			return Endpoint{}, fmt.Errorf("%s: plain http is accepted for loopback addresses only, not %q: use https", name, ep.Host)
		}
	default:
		return Endpoint{}, fmt.Errorf("%s: scheme %q is not http or https", name, ep.Scheme)
	}
	return ep, nil
}

// IsLoopback: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost. Names other
// than localhost are not resolved: a name is never trusted as loopback.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NoRedirectAway is a transport under which a client follows no redirect to
// another host, nor from https to http: such an answer loses its Location,
// and net/http then returns it to the caller as the answer it is. A signed
// request carries what only its API's own host may see (a security token
// header, a signature over the query), and net/http, following a redirect
// elsewhere, would keep both.
type NoRedirectAway struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t NoRedirectAway) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.Base.RoundTrip(r)
	if err != nil || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return resp, err
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return resp, nil
	}
	if to, err := r.URL.Parse(loc); err != nil || !sameOrigin(r.URL, to) {
		resp.Header.Del("Location")
	}
	return resp, nil
}

// sameOrigin: the same host and port (the scheme's default filled in), and
// no step down from https.
func sameOrigin(from, to *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.EqualFold(from.Hostname(), to.Hostname()) && port(from) == port(to) &&
		(strings.EqualFold(to.Scheme, "https") || !strings.EqualFold(from.Scheme, "https"))
}
