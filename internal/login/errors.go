package login

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The steps of a login, as named in error messages; with a repository, the
// token step names its scope and the last step is the pull (tokenStep,
// pullStep).
const (
	stepInput   = ""
	stepPing    = "ping (GET /v2/)"
	stepToken   = "token endpoint"
	stepConfirm = "authenticated GET /v2/"
)

func (l *attempt) tokenStep() string {
	if l.repo == "" {
		return stepToken
	}
	return stepToken + " (scope repository:" + l.repo + ":pull)"
}

func (l *attempt) pullStep() string {
	return "pull of " + l.repo + " (GET /v2/" + l.repo + "/tags/list)"
}

type kind int

const (
	kindStatus      kind = iota // an HTTP answer other than the one expected
	kindTransport               // no answer: connection, TLS, DNS
	kindTimeout                 // no answer in time
	kindCanceled                // the caller's context was cancelled
	kindPlainHTTP               // refused to send the credential over plain http
	kindWrongScheme             // refused a scheme not configured for the registry
	kindUnusable                // an answer the handshake could not use
	kindInput                   // bad arguments; nothing was sent
)

// Error is a failed login. Its text names the domain, the step and the HTTP
// status, and never anything the registry answered (bodies and header values
// could echo the credential) nor the credential itself.
type Error struct {
	Domain string
	// Repository is the repository a pull was proven on; "" for a login.
	Repository string
	Step       string // the ping, the token endpoint, GET /v2/ or the pull; "" when nothing was sent
	Status     int    // HTTP status; 0 when no answer came
	pull       bool   // the answer is the pull's own (GET /v2/<repository>/tags/list)
	kind       kind
	detail     string        // our own wording only
	cause      error         // context errors only, for errors.Is
	limit      time.Duration // kindTimeout: the login's own bound; 0 when the caller's deadline came first
}

func (e *Error) Error() string {
	p := "registry login to " + e.Domain + ": "
	switch e.kind {
	case kindStatus:
		return fmt.Sprintf("%s%s answered HTTP %d%s", p, e.Step, e.Status, e.hint())
	case kindTransport:
		return fmt.Sprintf("%s%s: no answer (%s)", p, e.Step, e.detail)
	case kindTimeout:
		if e.limit == 0 {
			return fmt.Sprintf("%s%s: no answer before the caller's deadline (timed out)", p, e.Step)
		}
		return fmt.Sprintf("%s%s: no answer within %v (timed out)", p, e.Step, e.limit)
	case kindCanceled:
		return fmt.Sprintf("%s%s: cancelled", p, e.Step)
	case kindPlainHTTP:
		return p + "refused: the " + e.Step + " is plain http off loopback (the credential was not sent)"
	case kindWrongScheme:
		return p + "refused: the " + e.Step + " uses a scheme other than the registry's configured one (the credential was not sent)"
	case kindUnusable:
		return fmt.Sprintf("%s%s: the answer could not be used (%s)", p, e.Step, e.detail)
	default:
		return p + e.detail
	}
}

// hint says what a refused pull means.
func (e *Error) hint() string {
	switch {
	case !e.pull:
		return ""
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return ": the token may not pull " + e.Repository
	case e.Status == http.StatusNotFound:
		return ": no repository " + e.Repository + " that the token may pull"
	}
	return ""
}

// Unwrap gives errors.Is access to context.Canceled and
// context.DeadlineExceeded; no other cause is kept, as its text could quote
// the registry's answer.
func (e *Error) Unwrap() error { return e.cause }

// Rejected reports that the registry or its token endpoint refused the
// credential (HTTP 401 or 403), or that the pull of the repository found
// nothing to pull (HTTP 404).
func (e *Error) Rejected() bool {
	return e.kind == kindStatus && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden ||
		(e.pull && e.Status == http.StatusNotFound))
}

// HTTPStatus is the status answered, 0 when no answer came.
func (e *Error) HTTPStatus() int { return e.Status }

// ErrorCode is a short code derived from the status only ("UNAUTHORIZED",
// "DENIED", "TOOMANYREQUESTS", "HTTP503"); "" when no answer came.
func (e *Error) ErrorCode() string {
	if e.kind != kindStatus {
		return ""
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusTooManyRequests:
		return "TOOMANYREQUESTS"
	}
	return fmt.Sprintf("HTTP%d", e.Status)
}

// Throttled reports HTTP 429 (worth retrying after a pause; not Transient).
func (e *Error) Throttled() bool {
	return e.kind == kindStatus && e.Status == http.StatusTooManyRequests
}

// Transient reports a failure worth retrying: HTTP 5xx, no answer, a timeout.
// Login never retries by itself.
func (e *Error) Transient() bool {
	switch e.kind {
	case kindStatus:
		return e.Status >= 500
	case kindTransport, kindTimeout:
		return true
	}
	return false
}

// ServerMessage is always "": what the registry answered is never surfaced.
func (e *Error) ServerMessage() string { return "" }

// attempt is one login in progress.
type attempt struct {
	c          *Checker
	domain     string
	repo       string          // the repository to pull, "" for a login
	repository name.Repository // repo, parsed
	parent     context.Context // the caller's
	ctx        context.Context // parent, bounded by the login's timeout
	base       url.URL         // scheme and host /v2/ is requested on
	guard      *guard
}

func (l *attempt) failStatus(step string, status int) *Error {
	return &Error{Domain: l.domain, Repository: l.repo, Step: step, Status: status, kind: kindStatus}
}

// fail classifies err into an *Error; err's text is never used.
func (l *attempt) fail(step string, err error) *Error {
	e := &Error{Domain: l.domain, Repository: l.repo, Step: step}
	var terr *transport.Error
	switch {
	case errors.Is(err, errEmptyCredential):
		e.kind, e.detail = kindInput, "empty username or password (nothing was sent)"
	case errors.Is(err, errBadDomain):
		e.Domain = fmt.Sprintf("%q", l.domain)
		e.kind, e.detail = kindInput, "not a registry domain (host[:port])"
	case errors.Is(err, errBadRepository):
		e.kind, e.detail = kindInput, fmt.Sprintf("%q is not a repository to pull (namespace/name; nothing was sent)", l.repo)
	case errors.Is(err, errUnsupportedChallenge):
		e.kind, e.detail = kindUnusable, "the registry asks for an authentication scheme other than Basic or Bearer"
	case errors.As(err, &terr):
		// An answer came; when the bearer transport re-fetched a token while
		// confirming or pulling, the answer is the token endpoint's.
		want := "/v2/"
		if step != stepConfirm {
			want = "/v2/" + l.repo + "/tags/list"
		}
		if (step == stepConfirm || step == l.pullStep()) && terr.Request != nil &&
			(terr.Request.URL.Host != l.base.Host || terr.Request.URL.Path != want) {
			e.Step = l.tokenStep()
		}
		e.pull = l.repo != "" && e.Step == l.pullStep()
		e.kind, e.Status = kindStatus, terr.StatusCode
	case l.ctx.Err() != nil:
		e.cause = l.ctx.Err()
		switch {
		case errors.Is(e.cause, context.Canceled):
			e.kind = kindCanceled
		case l.parent.Err() == nil:
			e.kind, e.limit = kindTimeout, l.c.timeout // the login's own bound
		default:
			e.kind = kindTimeout
		}
	case errors.Is(err, errPlainHTTP):
		e.kind = kindPlainHTTP
	case l.guard != nil && l.guard.baseFailure() != nil:
		// Judged by what the network said, not by err: the library's ping
		// joins the error of the scheme probe that guard refused.
		e.kind, e.detail = kindTransport, describeNetErr(l.guard.baseFailure())
	case errors.Is(err, errWrongScheme):
		e.kind = kindWrongScheme
	default:
		// Refused or failed on this side after an answer: a malformed
		// challenge or token response, a realm or redirect the library's
		// own SSRF guard refuses.
		e.kind, e.detail = kindUnusable, "malformed challenge or token response, or a token endpoint the client refuses"
	}
	return e
}

// describeNetErr words a network failure by its type, never by its text
// (which holds URLs, and with them the challenge's parameters).
func describeNetErr(err error) string {
	var dns *net.DNSError
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var record tls.RecordHeaderError
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &dns):
		return "DNS lookup failed"
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &hostname):
		return "TLS certificate not accepted"
	case errors.As(err, &record):
		return "TLS handshake failed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &op) && op.Op == "dial":
		return "connection failed"
	case errors.As(err, &op):
		return "connection broken"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	}
	return "transport error"
}
