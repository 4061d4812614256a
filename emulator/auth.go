package emulator

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The emulator's own signature verifiers. They follow
// sdk/auth/roa_signature_composer.go and sdk/auth/rpc_signature_composer.go
// of github.com/aliyun/alibaba-cloud-sdk-go (HMAC-SHA1, signature version 1.0)
// but share no code with them.

func hmacSHA1(key, msg string) []byte {
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// signatureMatches compares a presented base64 signature with the expected
// MAC in constant time.
func signatureMatches(presented string, expected []byte) bool {
	got, err := base64.StdEncoding.DecodeString(presented)
	if err != nil {
		return false
	}
	return hmac.Equal(got, expected)
}

// parseROAAuthorization splits "acs <AccessKeyId>:<signature>".
func parseROAAuthorization(h string) (ak, sig string) {
	rest, ok := strings.CutPrefix(h, "acs ")
	if !ok {
		return "", ""
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return strings.TrimSpace(rest), ""
	}
	return strings.TrimSpace(rest[:i]), strings.TrimSpace(rest[i+1:])
}

// roaStringToSign rebuilds the string to sign of an ROA request:
//
//	METHOD \n [Accept \n] [Content-MD5 \n] [Content-Type \n] [Date \n]
//	x-acs-name:value \n ... (sorted by lower-case name)
//	path[?k1=v1&k2&...] (sorted by key, values raw, "=" left out for empty values)
func roaStringToSign(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	for _, h := range []string{"Accept", "Content-MD5", "Content-Type", "Date"} {
		if v := r.Header.Get(h); v != "" {
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	acs := map[string]string{}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-acs-") && len(vs) > 0 {
			acs[lk] = vs[0]
		}
	}
	names := make([]string, 0, len(acs))
	for k := range acs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(acs[k])
		b.WriteByte('\n')
	}
	b.WriteString(r.URL.Path)
	query := r.URL.Query()
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		if v := query.Get(k); v != "" {
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return b.String()
}

// rpcStringToSign rebuilds the string to sign of an RPC request:
// METHOD&%2F&percentEncode(canonicalized sorted parameters).
func rpcStringToSign(method string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, 0, len(keys))
	for _, k := range keys {
		v := ""
		if vs := params[k]; len(vs) > 0 {
			v = vs[0]
		}
		pairs = append(pairs, percentEncode(k)+"="+percentEncode(v))
	}
	return method + "&" + percentEncode("/") + "&" + percentEncode(strings.Join(pairs, "&"))
}

// percentEncode is RFC 3986 encoding: unreserved characters
// (A-Z a-z 0-9 - _ . ~) stay, every other byte becomes %XX (upper case).
func percentEncode(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

// authenticate checks the caller's access key, signature and security token.
// Error messages never echo the signature or the string to sign (which holds
// the request parameters, secret data included).
func (s *Server) authenticate(q *apiRequest) *apiError {
	var ak, sig, token, stringToSign, secretSuffix string
	if q.roa() {
		auth := q.r.Header.Get("Authorization")
		if auth == "" {
			return errf(400, "MissingAuthorization", "Authorization is mandatory for this action.")
		}
		ak, sig = parseROAAuthorization(auth)
		if ak == "" || sig == "" {
			return errf(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
		}
		if m := q.r.Header.Get("x-acs-signature-method"); m != "" && m != "HMAC-SHA1" {
			return errf(400, "InvalidSignatureMethod", "Specified signature method is not supported; the emulator supports HMAC-SHA1.")
		}
		if want := q.r.Header.Get("Content-MD5"); want != "" {
			sum := md5.Sum(q.body)
			if subtle.ConstantTimeCompare([]byte(want), []byte(base64.StdEncoding.EncodeToString(sum[:]))) != 1 {
				return errf(400, "InvalidContentMD5", "The Content-MD5 header does not match the request body.")
			}
		}
		token = q.r.Header.Get("x-acs-security-token")
		stringToSign = roaStringToSign(q.r)
	} else {
		ak = q.params.Get("AccessKeyId")
		sig = q.params.Get("Signature")
		if ak == "" {
			return errf(400, "MissingAccessKeyId", "AccessKeyId is mandatory for this action.")
		}
		if sig == "" {
			return errf(400, "MissingSignature", "Signature is mandatory for this action.")
		}
		if m := q.params.Get("SignatureMethod"); m != "HMAC-SHA1" {
			return errf(400, "InvalidSignatureMethod", "Specified signature method is not supported; the emulator supports HMAC-SHA1.")
		}
		token = q.params.Get("SecurityToken")
		stringToSign = rpcStringToSign(q.r.Method, q.params)
		secretSuffix = "&"
	}

	s.mu.Lock()
	cred, ok := s.creds[ak]
	s.mu.Unlock()
	if !ok {
		return errf(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	if !signatureMatches(sig, hmacSHA1(cred.AccessKeySecret+secretSuffix, stringToSign)) {
		return errf(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(cred.SecurityToken)) != 1 {
		if cred.SecurityToken == "" {
			return errf(400, "InvalidSecurityToken.Mismatch", "A security token was presented for an access key that is not an STS key.")
		}
		return errf(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken mismatch with the AccessKey.")
	}
	if !cred.Expires.IsZero() && !time.Now().Before(cred.Expires) {
		return errf(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
	}
	if !q.roa() {
		if nonce := q.params.Get("SignatureNonce"); nonce != "" {
			s.mu.Lock()
			defer s.mu.Unlock()
			now := time.Now()
			if _, used := s.nonces[nonce]; used {
				return errf(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
			}
			if len(s.nonces) > 100000 {
				for n, t := range s.nonces {
					if now.Sub(t) > 15*time.Minute {
						delete(s.nonces, n)
					}
				}
			}
			s.nonces[nonce] = now
		}
	}
	return nil
}
