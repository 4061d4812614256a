package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"

	// Distribution's token access controller and in-memory storage driver
	// register themselves by name.
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// The registry of the ACR instances: CNCF Distribution, the reference
// implementation of the OCI Distribution (Docker Registry HTTP API v2)
// protocol, run as a library with in-memory storage and token
// authentication, as ACR's registries authenticate (Bearer challenge, a
// token service that takes the temporary credential as HTTP Basic auth).
// The token service is the emulator's own (token.go): it knows the minted
// credentials and, through the emulator's RAM (ram.go), what their minting
// identity may pull or push.
//
// One registry serves every instance of the emulator (its repositories are
// shared); what a token may do is judged by the instance it was minted for.
//
// A thin front handler records every registry request with Product
// "registry" and an Action named by its route: "Ping" (/v2/), "Token" (the
// token service), "ListTags", "Manifest", "Blob", "BlobUpload", "Catalog";
// faults set on "registry" or on an action apply to them. Neither the
// Authorization header nor any credential is recorded or logged.

const (
	registryTokenPath = "/service/token"
	registryService   = "registry.emulator"
	registryIssuer    = "emulator-token-service"
	registryTokenTTL  = 300 // seconds, as ACR's token endpoint answers
)

// registryState is the running registry and what tests set on it. Guarded
// by Server.mu, except app and signer, which are set once by Start.
type registryState struct {
	app    *handlers.App
	signer *tokenSigner
	refuse bool   // the token service refuses every credential
	realm  string // "" means URL() + registryTokenPath
}

// isRegistryPath reports the paths the registry serves (routed by ServeHTTP).
func isRegistryPath(p string) bool {
	return p == "/v2" || strings.HasPrefix(p, "/v2/") || p == registryTokenPath
}

var quietDistribution sync.Once

// startRegistry builds the Distribution app: token auth trusting a key made
// for this server alone, in-memory storage, no background purging.
func (s *Server) startRegistry() (err error) {
	// Distribution logs through logrus's standard logger: every request, and
	// every error answer at level error. The emulator's own log (Logf) has
	// each request with its status and code, so for the whole process only
	// logrus's panics remain.
	quietDistribution.Do(func() { logrus.SetLevel(logrus.PanicLevel) })
	signer, bundle, err := newTokenSigner()
	if err != nil {
		return err
	}
	// Distribution reads its root certificate bundle from a file, once, while
	// the app is built.
	dir, err := os.MkdirTemp("", "emulator-registry")
	if err != nil {
		return fmt.Errorf("emulator: registry: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "token-root.pem")
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		return fmt.Errorf("emulator: registry: %w", err)
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory":    configuration.Parameters{},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
		Auth: configuration.Auth{"token": configuration.Parameters{
			"realm": s.URL() + registryTokenPath, "service": registryService, "issuer": registryIssuer, "rootcertbundle": path,
		}},
	}
	cfg.HTTP.Secret = randomHex(32)
	defer func() {
		// NewApp panics on a configuration it cannot use.
		if r := recover(); r != nil {
			err = fmt.Errorf("emulator: registry: %v", r)
		}
	}()
	s.registry.app = handlers.NewApp(context.Background(), cfg)
	s.registry.signer = signer
	return nil
}

// SetRegistryRefuse makes the token service refuse every credential (true)
// or check them again (false).
func (s *Server) SetRegistryRefuse(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registry.refuse = refuse
}

// SetRegistryRealm sets the realm that the registry's Bearer challenges
// name, e.g. to a URL the client must refuse; "" restores URL()+"/service/token".
func (s *Server) SetRegistryRealm(realm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registry.realm = realm
}

// registryAction names a registry request by its route.
func registryAction(p string) string {
	switch {
	case p == registryTokenPath:
		return "Token"
	case p == "/v2" || p == "/v2/":
		return "Ping"
	case p == "/v2/_catalog":
		return "Catalog"
	case strings.HasSuffix(p, "/tags/list"):
		return "ListTags"
	case strings.Contains(p, "/manifests/"):
		return "Manifest"
	case strings.Contains(p, "/blobs/uploads"):
		return "BlobUpload"
	case strings.Contains(p, "/blobs/"):
		return "Blob"
	}
	return "V2"
}

func (s *Server) serveRegistry(w http.ResponseWriter, r *http.Request) {
	action := registryAction(r.URL.Path)
	// The query holds service, scope and paging only: a credential travels in
	// the Authorization header, which is not recorded.
	call := &Call{Time: time.Now(), Product: "registry", Action: action, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	hang, latency := s.faultDelays(action, "registry")
	realm := s.registry.realm
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
	rec := &registryRecorder{ResponseWriter: w, realm: realm}
	if e := s.consumeFault(action, "registry"); e != nil {
		// A registry throttles with 429 and fails with the Docker error codes.
		switch {
		case e == throttled:
			registryError(rec, http.StatusTooManyRequests, "TOOMANYREQUESTS", "too many requests")
		case e.status == http.StatusServiceUnavailable:
			registryError(rec, e.status, "UNAVAILABLE", "service unavailable")
		default:
			registryError(rec, e.status, "UNKNOWN", "unknown error")
		}
	} else if action == "Token" {
		s.serveToken(rec, r, call)
	} else {
		s.registry.app.ServeHTTP(rec, r)
	}
	code := rec.errorCode()
	s.mu.Lock()
	call.Status, call.Code = rec.status, code
	s.mu.Unlock()
	if code == "" {
		s.logf("registry %s %s -> %d", action, r.URL.Path, rec.status)
	} else {
		s.logf("registry %s %s -> %d %s", action, r.URL.Path, rec.status, code)
	}
}

// registryError answers a Docker-style error body.
func registryError(w http.ResponseWriter, status int, code, message string) {
	type diag struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail"`
	}
	registryJSON(w, status, struct {
		Errors []diag `json:"errors"`
	}{[]diag{{code, message, nil}}})
}

func registryJSON(w http.ResponseWriter, status int, body any) {
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var challengeRealm = regexp.MustCompile(`realm="[^"]*"`)

// registryRecorder keeps the status and the start of an error body, for the
// call log, and puts the realm set by SetRegistryRealm into challenges.
type registryRecorder struct {
	http.ResponseWriter
	realm  string
	status int
	errBuf bytes.Buffer
}

func (r *registryRecorder) WriteHeader(status int) {
	if r.status != 0 {
		return
	}
	r.status = status
	if r.realm != "" {
		h := r.Header()
		for i, v := range h.Values("WWW-Authenticate") {
			h["Www-Authenticate"][i] = challengeRealm.ReplaceAllLiteralString(v, "realm="+strconv.Quote(r.realm))
		}
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *registryRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.status >= 400 && r.errBuf.Len() < 4096 {
		r.errBuf.Write(b[:min(len(b), 4096-r.errBuf.Len())])
	}
	return r.ResponseWriter.Write(b)
}

// Flush lets streamed answers through.
func (r *registryRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (r *registryRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// errorCode is the first Docker error code of an error answer.
func (r *registryRecorder) errorCode() string {
	if r.status < 400 {
		return ""
	}
	var body struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.errBuf.Bytes(), &body) != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}
