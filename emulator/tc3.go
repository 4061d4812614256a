package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The emulator's verifier of Tencent Cloud API 3.0 signatures
// (TC3-HMAC-SHA256), written from the signature's published description:
// it shares no code with tencentcloud-sdk-go's common/sign.go or client.go.

// TencentCredential is a Tencent Cloud API key the emulator accepts for SSM.
// One registered with a Token (a temporary key) must present exactly that
// token in X-TC-Token. Tencent keys are kept apart from the Alibaba ones.
type TencentCredential struct{ SecretID, SecretKey, Token string }

// DefaultTencentCredential is a key for demos and tests; it is accepted
// only once registered with AddTencentCredential.
var DefaultTencentCredential = TencentCredential{SecretID: "AKIDemulatorTencentKey", SecretKey: "emulator-tencent-key-not-real"}

// tc3MaxSkew is how far X-TC-Timestamp may be from the server's clock.
const tc3MaxSkew = 5 * time.Minute

// tc3Auth is a parsed Authorization header:
// TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=a;b, Signature=<hex>
type tc3Auth struct {
	secretID, date, service string
	signedHeaders           []string
	signature               string
}

func parseTC3Authorization(h string) (tc3Auth, bool) {
	rest, ok := strings.CutPrefix(h, "TC3-HMAC-SHA256 ")
	if !ok {
		return tc3Auth{}, false
	}
	var a tc3Auth
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return tc3Auth{}, false
		}
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 4 || scope[3] != "tc3_request" {
				return tc3Auth{}, false
			}
			a.secretID, a.date, a.service = scope[0], scope[1], scope[2]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	ok = a.secretID != "" && a.date != "" && a.signature != "" && len(a.signedHeaders) > 0
	return a, ok
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// tc3CanonicalRequest is
//
//	METHOD \n URI \n QUERY \n name:value\n... \n signed;names \n hex(sha256(payload))
//
// with each signed header's name and value lower-cased and trimmed.
func tc3CanonicalRequest(r *http.Request, body []byte, signed []string) string {
	var headers strings.Builder
	for _, name := range signed {
		v := r.Header.Get(name)
		if strings.EqualFold(name, "host") {
			v = r.Host
		}
		headers.WriteString(strings.ToLower(name) + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	payload := sha256Hex(body)
	if r.Header.Get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD" {
		payload = sha256Hex([]byte("UNSIGNED-PAYLOAD"))
	}
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	return strings.Join([]string{r.Method, uri, r.URL.RawQuery, headers.String(), strings.Join(signed, ";"), payload}, "\n")
}

// tc3Signature derives the signing key from the secret key, the date and
// the service, and signs the string to sign.
func tc3Signature(secretKey, date, service, timestamp, canonical string) string {
	scope := date + "/" + service + "/tc3_request"
	toSign := "TC3-HMAC-SHA256\n" + timestamp + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	k := hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

// authenticateTC3 checks the signature, its freshness and the session
// token of an SSM request. Answers never echo the signature or the
// canonical request (which is built from the body, secret values included).
func (s *Server) authenticateTC3(r *http.Request, body []byte) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errf(200, "AuthFailure.SignatureFailure", "The Authorization header is missing.")
	}
	a, ok := parseTC3Authorization(h)
	if !ok {
		return errf(200, "AuthFailure.InvalidAuthorization", "The Authorization header is not a TC3-HMAC-SHA256 authorization.")
	}
	if a.service != "ssm" {
		return errf(200, "AuthFailure.InvalidAuthorization", "The credential scope names another service than ssm.")
	}
	signed := map[string]bool{}
	for _, n := range a.signedHeaders {
		signed[strings.ToLower(n)] = true
	}
	if !signed["host"] || !signed["content-type"] || !sort.StringsAreSorted(a.signedHeaders) {
		return errf(200, "AuthFailure.InvalidAuthorization", "SignedHeaders must list content-type and host, sorted.")
	}
	ts := r.Header.Get("X-TC-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errf(200, "AuthFailure.SignatureExpire", "X-TC-Timestamp is missing or not a Unix time.")
	}
	at := time.Unix(sec, 0).UTC()
	if d := time.Since(at); d > tc3MaxSkew || d < -tc3MaxSkew {
		return errf(200, "AuthFailure.SignatureExpire", "The signature expired: X-TC-Timestamp is more than 5 minutes from the server's time.")
	}
	if a.date != at.Format("2006-01-02") {
		return errf(200, "AuthFailure.SignatureFailure", "The credential scope's date is not the date of X-TC-Timestamp.")
	}
	s.mu.Lock()
	cred, known := s.ssm.creds[a.secretID]
	s.mu.Unlock()
	if !known {
		return errf(200, "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct.")
	}
	want := tc3Signature(cred.SecretKey, a.date, a.service, ts, tc3CanonicalRequest(r, body, a.signedHeaders))
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(a.signature)), []byte(want)) != 1 {
		return errf(200, "AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-TC-Token")), []byte(cred.Token)) != 1 {
		return errf(200, "AuthFailure.TokenFailure", "The token is invalid or does not belong to the SecretId.")
	}
	return nil
}
