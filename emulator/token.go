package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
)

// The registry's token service, as the Docker token authentication
// specification (https://distribution.github.io/distribution/spec/auth/token/)
// describes it: GET <realm>?service=...&scope=repository:<name>:<actions> with the
// temporary credential as HTTP Basic auth answers a JWT that Distribution
// verifies. The JWT grants, of the scopes asked for, only what the
// credential's minting identity may do (ram.go): a credential whose minter
// may not pull gets a token without pull, and the registry answers 401
// insufficient_scope, as ACR does for a temporary token that carries the
// permissions of the identity that minted it.

// tokenSigner signs registry tokens with a key made at Start; its
// self-signed certificate is the root Distribution trusts, and travels in
// each token's x5c header.
type tokenSigner struct {
	signer jose.Signer
}

func newTokenSigner() (*tokenSigner, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: token key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: registryIssuer},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: token certificate: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(der)})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: token signer: %w", err)
	}
	return &tokenSigner{signer: signer}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func (t *tokenSigner) sign(claims token.ClaimSet) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := t.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// serveToken exchanges a minted credential (HTTP Basic auth) for a registry
// token holding what its minter may do of the scopes asked for.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, call *Call) {
	if r.Method != http.MethodGet {
		registryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return
	}
	user, pass, has := r.BasicAuth()
	now := time.Now()
	s.mu.Lock()
	tok, ok := Token{}, false
	if has && !s.registry.refuse {
		tok, ok = s.mintedLocked(user, pass, now)
	}
	var access []*token.ResourceActions
	if ok {
		// The caller is the identity whose token this is: RAM judges its minter.
		call.AccessKeyID = tok.AccessKeyID
		for _, sc := range requestedScopes(r) {
			if granted := s.grantedLocked(tok, sc); len(granted.Actions) > 0 {
				access = append(access, granted)
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	service := r.URL.Query().Get("service")
	if service == "" {
		service = registryService
	}
	jwt, err := s.registry.signer.sign(token.ClaimSet{
		Issuer: registryIssuer, Subject: tok.AccessKeyID, Audience: token.AudienceList{service},
		Expiration: now.Add(registryTokenTTL * time.Second).Unix(), NotBefore: now.Unix(), IssuedAt: now.Unix(),
		JWTID: randomHex(16), Access: access,
	})
	if err != nil {
		registryError(w, http.StatusInternalServerError, "UNKNOWN", "unknown error")
		return
	}
	registryJSON(w, http.StatusOK, struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}{jwt, jwt, registryTokenTTL, now.UTC().Format(time.RFC3339)})
}

// requestedScopes parses the scope parameters: each holds scopes separated
// by spaces, type:name:actions (a name may hold a colon, as host:port/repo).
func requestedScopes(r *http.Request) []token.ResourceActions {
	var out []token.ResourceActions
	for _, param := range r.URL.Query()["scope"] {
		for _, sc := range strings.Fields(param) {
			typ, rest, ok := strings.Cut(sc, ":")
			i := strings.LastIndex(rest, ":")
			if !ok || i <= 0 {
				continue
			}
			out = append(out, token.ResourceActions{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")})
		}
	}
	return out
}

// mintedLocked finds the unexpired minted token user/pass. Call with s.mu held.
func (s *Server) mintedLocked(user, pass string, now time.Time) (Token, bool) {
	for _, t := range s.tokens {
		if now.Before(t.ExpiresAt) &&
			subtle.ConstantTimeCompare([]byte(user), []byte(t.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(pass), []byte(t.Password)) == 1 {
			return t, true
		}
	}
	return Token{}, false
}

// MintToken mints a temporary credential for an instance as
// GetAuthorizationToken does when called by accessKeyID (mintLocked),
// without an API call: it is not recorded and no fault applies. What the
// credential may pull or push is what RAM grants accessKeyID (Grant).
func (s *Server) MintToken(instanceID, accessKeyID string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[instanceID]
	if !ok {
		return Token{}, fmt.Errorf("emulator: MintToken: no instance %q", instanceID)
	}
	return s.mintLocked(in.ID, accessKeyID, in.TokenTTL), nil
}

// mintLocked makes and keeps a temporary credential of instanceID (an
// Enterprise Edition instance, or PersonalInstanceID) for accessKeyID: the
// fixed username and a random password, living ttl but never past the
// expiry of the credential accessKeyID belongs to (ACR cuts a token signed
// with STS credentials short to their expiry). Call with s.mu held.
func (s *Server) mintLocked(instanceID, accessKeyID string, ttl time.Duration) Token {
	exp := time.Now().Add(ttl)
	if cred, ok := s.creds[accessKeyID]; ok && !cred.Expires.IsZero() && cred.Expires.Before(exp) {
		exp = cred.Expires
	}
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	tok := Token{
		InstanceID:  instanceID,
		Username:    tempUsername,
		Password:    base64.RawURLEncoding.EncodeToString(b),
		ExpiresAt:   exp.Truncate(time.Millisecond),
		AccessKeyID: accessKeyID,
	}
	s.tokens = append(s.tokens, tok)
	return tok
}
