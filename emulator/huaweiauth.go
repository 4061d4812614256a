package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// Huawei Cloud's AK/SK request signing (SDK-HMAC-SHA256), verified as the
// API gateway does. The emulator's own code, written from the description
// of core/auth/signer/signer.go of github.com/huaweicloud/huaweicloud-sdk-go-v3:
//
//	canonical request = METHOD \n canonical URI (each segment escaped, with a
//	trailing "/") \n canonical query (sorted, escaped) \n canonical headers
//	("name:value\n" of each signed header, in the signed order) \n signed
//	headers (";"-joined) \n hex SHA-256 of the body (or X-Sdk-Content-Sha256)
//	string to sign = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex SHA-256(canonical request)
//	signature = hex HMAC-SHA256(SK, string to sign)

// HuaweiCredential is a Huawei Cloud access key the emulator accepts for
// CSMS. A key registered with a SecurityToken (a temporary key) must
// present exactly that token in X-Security-Token.
type HuaweiCredential struct{ AK, SK, SecurityToken string }

// DefaultHuaweiCredential is the Huawei Cloud key of cmd/emulator and the demo.
var DefaultHuaweiCredential = HuaweiCredential{AK: "HWEMULATORACCESSKEY", SK: "huawei-emulator-sk-not-real"}

const (
	huaweiAlgorithm  = "SDK-HMAC-SHA256"
	huaweiDateFormat = "20060102T150405Z"
	// huaweiMaxSkew is how far X-Sdk-Date may be from the emulator's clock.
	huaweiMaxSkew = 15 * time.Minute
)

// The gateway's answer to every authentication failure: one code, a fixed
// message naming the reason, never the signature or the string to sign.
func huaweiAuthError(why string) *apiError {
	return errf(http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: "+why)
}

// huaweiAuthorization is a parsed "SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=..." header.
type huaweiAuthorization struct {
	access, signature string
	signedHeaders     []string
}

func parseHuaweiAuthorization(h string) (huaweiAuthorization, bool) {
	var a huaweiAuthorization
	rest, ok := strings.CutPrefix(h, huaweiAlgorithm+" ")
	if !ok {
		return a, false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, false
		}
		switch k {
		case "Access":
			a.access = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.access != "" && a.signature != "" && len(a.signedHeaders) > 0
}

// huaweiAccessKey is the AK a request presents, for the call log.
func huaweiAccessKey(r *http.Request) string {
	a, _ := parseHuaweiAuthorization(r.Header.Get("Authorization"))
	return a.access
}

// authenticateHuawei checks a CSMS request's signature, date, security
// token and X-Project-Id (which must name the project of the path).
func (s *Server) authenticateHuawei(r *http.Request, body []byte, project string) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return huaweiAuthError("the Authorization header is missing")
	}
	a, ok := parseHuaweiAuthorization(h)
	if !ok {
		return huaweiAuthError("the Authorization header is not " + huaweiAlgorithm + " Access=..., SignedHeaders=..., Signature=...")
	}
	signed := map[string]bool{}
	for _, n := range a.signedHeaders {
		if n != strings.ToLower(n) {
			return huaweiAuthError("signed header names must be lower case")
		}
		signed[n] = true
	}
	date := r.Header.Get("X-Sdk-Date")
	t, err := time.Parse(huaweiDateFormat, date)
	if err != nil || !signed["x-sdk-date"] {
		return huaweiAuthError("X-Sdk-Date is missing, malformed or not signed")
	}
	if d := time.Since(t); d > huaweiMaxSkew || d < -huaweiMaxSkew {
		return huaweiAuthError("the request has expired (X-Sdk-Date)")
	}
	for _, name := range []string{"x-project-id", "x-security-token"} {
		if r.Header.Get(name) != "" && !signed[name] {
			return huaweiAuthError(name + " is present but not signed")
		}
	}
	s.mu.Lock()
	cred, known := s.csms.creds[a.access]
	s.mu.Unlock()
	if !known {
		return huaweiAuthError("the access key does not exist")
	}
	want := huaweiSign(cred.SK, huaweiStringToSign(date, huaweiCanonicalRequest(r, body, a.signedHeaders)))
	got, err := hex.DecodeString(a.signature)
	if err != nil || !hmac.Equal(got, want) {
		return huaweiAuthError("the signature does not match")
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Security-Token")), []byte(cred.SecurityToken)) != 1 {
		return huaweiAuthError("the security token does not match the access key")
	}
	if pid := r.Header.Get("X-Project-Id"); pid != project {
		return errf(http.StatusForbidden, "APIGW.0305", "The X-Project-Id header does not name the project of the request")
	}
	return nil
}

func huaweiCanonicalRequest(r *http.Request, body []byte, signedHeaders []string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	// Canonical URI: every segment escaped, always ending in "/".
	segs := strings.Split(r.URL.Path, "/")
	for i, seg := range segs {
		segs[i] = percentEncode(seg)
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	b.WriteString(uri)
	b.WriteByte('\n')
	// Canonical query: keys sorted, each key's values sorted.
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			pairs = append(pairs, percentEncode(k)+"="+percentEncode(v))
		}
	}
	b.WriteString(strings.Join(pairs, "&"))
	b.WriteByte('\n')
	// Canonical headers, in the order they were signed.
	for _, name := range signedHeaders {
		var vals []string
		if name == "host" {
			vals = []string{r.Host}
		} else {
			vals = append(vals, r.Header.Values(name)...)
		}
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	// The payload's hash, unless the signer declared it unsigned (non-JSON
	// bodies) in a header that is itself signed.
	hash := r.Header.Get("X-Sdk-Content-Sha256")
	if hash == "" || !slices.Contains(signedHeaders, "x-sdk-content-sha256") {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	b.WriteString(hash)
	return b.String()
}

func huaweiStringToSign(date, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return huaweiAlgorithm + "\n" + date + "\n" + hex.EncodeToString(sum[:])
}

func huaweiSign(sk, stringToSign string) []byte {
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(stringToSign))
	return m.Sum(nil)
}
