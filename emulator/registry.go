package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The registry of an ACR EE instance, as `docker login` sees it: the Docker
// Registry HTTP API v2 ping (GET /v2/) and a token endpoint. Its calls are
// recorded with Product "registry" and Action "Ping" (/v2/) or "Token" (the
// token endpoint); faults set on "registry", "Ping" or "Token" apply to them.
// Neither the Authorization header nor any credential is recorded or logged.

const (
	registryTokenPath = "/service/token"
	registryService   = "registry.emulator"
	registryTokenTTL  = 300 // seconds, as ACR's token endpoint answers
)

// registryState is the registry's configuration and the registry tokens it
// issued. Guarded by Server.mu; the zero value is a Bearer registry.
type registryState struct {
	basic  bool   // challenge Basic and accept minted pairs directly
	refuse bool   // refuse every credential
	realm  string // "" means URL() + registryTokenPath
	issued map[string]time.Time
}

// isRegistryPath reports the paths the registry serves (routed by ServeHTTP).
func isRegistryPath(p string) bool {
	return p == "/v2/" || p == "/v2" || p == registryTokenPath
}

// SetRegistryAuth selects how the registry authenticates: "bearer" (the
// default, as ACR does: /v2/ challenges Bearer and the token endpoint
// exchanges a minted pair for a registry token) or "basic" (/v2/ challenges
// Basic and accepts a minted pair directly).
func (s *Server) SetRegistryAuth(mode string) error {
	if mode != "bearer" && mode != "basic" {
		return fmt.Errorf("emulator: SetRegistryAuth: unknown mode %q (bearer or basic)", mode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registry.basic = mode == "basic"
	return nil
}

// SetRegistryRefuse makes the registry and its token endpoint refuse every
// credential (true) or check them again (false).
func (s *Server) SetRegistryRefuse(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registry.refuse = refuse
}

// SetRegistryRealm sets the realm of the Bearer challenge, e.g. to a URL the
// client must refuse; "" restores URL()+"/service/token".
func (s *Server) SetRegistryRealm(realm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registry.realm = realm
}

// MintToken mints a temporary credential for an instance as
// GetAuthorizationToken does (same username, password shape and TTL), without
// an API call: it is not recorded, no fault applies and AccessKeyID is "".
func (s *Server) MintToken(instanceID string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[instanceID]
	if !ok {
		return Token{}, fmt.Errorf("emulator: MintToken: no instance %q", instanceID)
	}
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	tok := Token{
		InstanceID: in.ID,
		Username:   tempUsername,
		Password:   base64.RawURLEncoding.EncodeToString(b),
		ExpiresAt:  time.Now().Add(in.TokenTTL).Truncate(time.Millisecond),
	}
	s.tokens = append(s.tokens, tok)
	return tok, nil
}

// registryRequest is one registry request in flight.
type registryRequest struct {
	w    http.ResponseWriter
	r    *http.Request
	call *Call
}

func (s *Server) serveRegistry(w http.ResponseWriter, r *http.Request) {
	action := "Ping"
	if r.URL.Path == registryTokenPath {
		action = "Token"
	}
	// The query holds service and scope only: a credential travels in the
	// Authorization header, which is not recorded.
	q := &registryRequest{w: w, r: r, call: &Call{
		Time: time.Now(), Product: "registry", Action: action, Method: r.Method, Path: r.URL.Path,
		Query: r.URL.Query(),
	}}
	s.mu.Lock()
	s.calls = append(s.calls, q.call)
	hang, latency := s.faultDelays(action, "registry")
	s.mu.Unlock()

	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		s.logf("registry %s hung until the client went away or Close", action)
		panic(http.ErrAbortHandler)
	}
	if !s.sleepCtx(r.Context(), latency) {
		panic(http.ErrAbortHandler)
	}
	if e := s.consumeFault(action, "registry"); e != nil {
		// A registry throttles with 429 and fails with the Docker error codes.
		switch {
		case e == throttled:
			s.registryError(q, http.StatusTooManyRequests, "TOOMANYREQUESTS", "too many requests")
		case e.status == http.StatusServiceUnavailable:
			s.registryError(q, e.status, "UNAVAILABLE", "service unavailable")
		default:
			s.registryError(q, e.status, "UNKNOWN", "unknown error")
		}
		return
	}
	if r.Method != http.MethodGet && (r.Method != http.MethodHead || action != "Ping") {
		s.registryError(q, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return
	}
	if action == "Token" {
		s.serveRegistryToken(q)
	} else {
		s.serveRegistryPing(q)
	}
}

// serveRegistryPing answers /v2/: 200 {} for a valid credential, else 401
// with the challenge.
func (s *Server) serveRegistryPing(q *registryRequest) {
	authz := q.r.Header.Get("Authorization")
	now := time.Now()
	s.mu.Lock()
	st := s.registry
	ok := false
	if !st.refuse {
		if st.basic {
			if user, pass, has := q.r.BasicAuth(); has {
				ok = s.mintedLocked(user, pass, now)
			}
		} else if tok, has := strings.CutPrefix(authz, "Bearer "); has {
			exp, found := st.issued[tok]
			ok = found && now.Before(exp)
		}
	}
	s.mu.Unlock()
	if ok {
		s.registryAnswer(q, http.StatusOK, "", struct{}{})
		return
	}
	if st.basic {
		q.w.Header().Set("WWW-Authenticate", `Basic realm="emulated registry"`)
	} else {
		realm := st.realm
		if realm == "" {
			realm = s.URL() + registryTokenPath
		}
		q.w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q,service=%q", realm, registryService))
	}
	s.registryError(q, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
}

// serveRegistryToken exchanges a minted pair (HTTP Basic auth) for a fresh
// registry token.
func (s *Server) serveRegistryToken(q *registryRequest) {
	user, pass, has := q.r.BasicAuth()
	now := time.Now()
	s.mu.Lock()
	ok := has && !s.registry.refuse && s.mintedLocked(user, pass, now)
	tok := ""
	if ok {
		tok = randomHex(32)
		if s.registry.issued == nil {
			s.registry.issued = map[string]time.Time{}
		}
		for t, exp := range s.registry.issued {
			if !now.Before(exp) {
				delete(s.registry.issued, t)
			}
		}
		s.registry.issued[tok] = now.Add(registryTokenTTL * time.Second)
	}
	s.mu.Unlock()
	if !ok {
		s.registryError(q, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	s.registryAnswer(q, http.StatusOK, "", struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}{tok, tok, registryTokenTTL, now.UTC().Format(time.RFC3339)})
}

// mintedLocked reports whether user/pass is an unexpired minted token. Call
// with s.mu held.
func (s *Server) mintedLocked(user, pass string, now time.Time) bool {
	for _, t := range s.tokens {
		if now.Before(t.ExpiresAt) &&
			subtle.ConstantTimeCompare([]byte(user), []byte(t.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(pass), []byte(t.Password)) == 1 {
			return true
		}
	}
	return false
}

// registryError answers a Docker-style error body.
func (s *Server) registryError(q *registryRequest, status int, code, message string) {
	type diag struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail"`
	}
	s.registryAnswer(q, status, code, struct {
		Errors []diag `json:"errors"`
	}{[]diag{{code, message, nil}}})
}

func (s *Server) registryAnswer(q *registryRequest, status int, code string, body any) {
	b, _ := json.Marshal(body)
	h := q.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Docker-Distribution-API-Version", "registry/2.0")
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(b)
	}
	s.mu.Lock()
	q.call.Status, q.call.Code = status, code
	s.mu.Unlock()
	if code == "" {
		s.logf("registry %s -> %d", q.call.Action, status)
	} else {
		s.logf("registry %s -> %d %s", q.call.Action, status, code)
	}
}
