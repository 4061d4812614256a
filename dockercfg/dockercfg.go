// Package dockercfg edits the .dockerconfigjson value of a
// kubernetes.io/dockerconfigjson secret: it rotates the credentials of some
// registry hosts while leaving every other byte of meaning untouched.
//
// Pull secrets are production-critical, so the package prefers refusing to
// rotate over any chance of dropping or altering a foreign entry: ambiguous
// input (duplicate keys, an "auths" key spelled in another case) is rejected
// as corrupt instead of being "repaired".
//
// Error messages never quote the input or the credential, because both are
// secrets that would otherwise end up in logs.
package dockercfg

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// Credential is one registry login.
type Credential struct{ Username, Password string }

// ErrCorrupt is wrapped by every decode failure (not base64, not JSON, not an
// object, "auths" not an object, an auths entry not an object, and the
// ambiguities listed in the package comment).
var ErrCorrupt = errors.New("corrupt docker config")

// errInvalid is wrapped by argument errors (hosts, credential) so they are
// never confused with ErrCorrupt.
var errInvalid = errors.New("invalid argument")

const authsKey = "auths"

// NormalizeHost gives the comparison key of a registry host: lower-cased, any
// scheme ("https://", "http://", any "xyz://") removed, trailing slashes
// removed; a port stays part of the host ("host:5000" is another registry
// than "host").
//
// A path after the host is kept (so "host/v1" differs from "host"): docker
// and the kubelet treat a key with a path as its own entry (Docker Hub's
// "https://index.docker.io/v1/", or credentials scoped to one namespace of a
// registry), so collapsing it into the bare host would overwrite a credential
// that belongs to somebody else.
func NormalizeHost(s string) string {
	s = asciiLower(s)
	// Strip repeatedly so that the result is idempotent ("a://b://h").
	for {
		i := strings.Index(s, "://")
		if i < 0 || !isScheme(s[:i]) {
			break
		}
		s = s[i+len("://"):]
	}
	return strings.TrimRight(s, "/")
}

// asciiLower lower-cases ASCII letters only. DNS names are case-insensitive
// only in ASCII (RFC 4343); Unicode folding would let distinct keys collide
// (the Kelvin sign folds to "k", invalid UTF-8 would become U+FFFD) and a
// foreign entry could be deleted as if it were a rotated host.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// isScheme reports whether s is an RFC 3986 scheme (already lower-cased):
// only then is "s://" a scheme and not, say, part of a path.
func isScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// entry is what Merge writes for a rotated host; field order is fixed by the
// struct so that the output is deterministic.
type entry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// MergeJSON returns the docker config document doc (what `docker login`
// writes to config.json) in which, for every host in hosts,
// auths[NormalizeHost(host)] = {"username","password","auth":
// base64(username:password)}. An empty document counts as {}.
//
// Every existing auths key whose NormalizeHost equals a rotated host is
// removed first (so "HTTPS://Host/" collapses into "host"). Every other auths
// entry and every other top-level key keeps its exact JSON bytes; only key
// order and the whitespace between members may change.
//
// Besides the documented argument errors (no hosts, a host empty after
// normalizing, an empty username or password), MergeJSON also rejects a host
// that is not printable ASCII (registry names are ASCII; a stray space or
// newline would silently create an entry nobody matches), a username
// containing ':' (the "auth" field is split at the first ':', so such a
// login would decode to a different user), and a username or password that
// is not valid UTF-8 (JSON cannot carry it unchanged).
func MergeJSON(doc []byte, hosts []string, cred Credential) ([]byte, error) {
	rotated, err := normalizeHosts(hosts)
	if err != nil {
		return nil, err
	}
	if err := validateCredential(cred); err != nil {
		return nil, err
	}
	top, auths, err := decodeRaw(doc)
	if err != nil {
		return nil, err
	}

	for key := range auths {
		if _, ok := rotated[NormalizeHost(key)]; ok {
			delete(auths, key)
		}
	}
	fresh, err := json.Marshal(entry{
		Username: cred.Username,
		Password: cred.Password,
		Auth:     base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + cred.Password)),
	})
	if err != nil {
		return nil, fmt.Errorf("dockercfg: encode entry: %w", errInvalid)
	}
	for host := range rotated {
		auths[host] = fresh
	}

	top[authsKey] = appendObject(nil, auths)
	return appendObject(nil, top), nil
}

// Unwrap decodes a stored base64 value (SAE's .dockerconfigjson) into the
// document; "" is an empty config. Errors wrap ErrCorrupt.
func Unwrap(encoded string) ([]byte, error) { return decodeBase64(encoded) }

// Check validates a docker config document as MergeJSON would read it.
func Check(doc []byte) error {
	_, _, err := decodeRaw(doc)
	return err
}

// errEmpty is CheckText's error for an empty value.
var errEmpty = errors.New(`the value is empty (store a docker config such as {"auths":{}})`)

// CheckText validates a secret's text value that holds the docker config
// document itself (KMS, CSMS and SSM store it so): a JSON object as
// MergeJSON reads it, and not empty. MergeJSON counts an empty document as
// {}; a value read that is empty is never taken for one (errEmpty).
func CheckText(value []byte) error {
	if len(value) == 0 {
		return errEmpty
	}
	return Check(value)
}

func corrupt(what string) error { return fmt.Errorf("%w: %s", ErrCorrupt, what) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("dockercfg: %w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// normalizeHosts validates hosts and returns the set of their normalized
// forms. Errors name a host by its index only: hosts are not secret, but
// keeping every message free of input keeps the rule simple to audit.
func normalizeHosts(hosts []string) (map[string]struct{}, error) {
	if len(hosts) == 0 {
		return nil, invalid("no hosts given")
	}
	set := make(map[string]struct{}, len(hosts))
	for i, h := range hosts {
		for j := 0; j < len(h); j++ {
			if h[j] <= ' ' || h[j] >= 0x7f {
				return nil, invalid("host %d is not printable ASCII", i)
			}
		}
		n := NormalizeHost(h)
		if n == "" {
			return nil, invalid("host %d is empty after normalizing", i)
		}
		set[n] = struct{}{}
	}
	return set, nil
}

func validateCredential(cred Credential) error {
	switch {
	case cred.Username == "":
		return invalid("username is empty")
	case cred.Password == "":
		return invalid("password is empty")
	case strings.Contains(cred.Username, ":"):
		return invalid("username contains ':'")
	case !utf8.ValidString(cred.Username):
		return invalid("username is not valid UTF-8")
	case !utf8.ValidString(cred.Password):
		return invalid("password is not valid UTF-8")
	}
	return nil
}

// decodeBase64 decodes the stored value; "" means an empty config.
func decodeBase64(encoded string) ([]byte, error) {
	if encoded == "" {
		return []byte("{}"), nil
	}
	data, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		// Some writers drop the padding.
		if data, err = base64.RawStdEncoding.DecodeString(encoded); err != nil {
			return nil, corrupt("not base64")
		}
	}
	return data, nil
}

// decodeRaw is decode on the document; empty means {}.
func decodeRaw(data []byte) (top, auths map[string]json.RawMessage, err error) {
	if len(data) == 0 {
		data = []byte("{}")
	}
	// Validate first so that the walk below only meets well-formed JSON and
	// "not JSON" is reported as such rather than as a structural problem.
	if !json.Valid(data) {
		return nil, nil, corrupt("not JSON")
	}
	top, err = members(data, "top level")
	if err != nil {
		return nil, nil, err
	}
	for key := range top {
		// Docker and the kubelet match struct fields case-insensitively, so
		// an "Auths" next to the "auths" we write would shadow one of them.
		if key != authsKey && strings.EqualFold(key, authsKey) {
			return nil, nil, corrupt("a top-level key differs from \"auths\" only in case")
		}
	}
	auths = map[string]json.RawMessage{}
	raw, ok := top[authsKey]
	if !ok || string(raw) == "null" {
		return top, auths, nil
	}
	if auths, err = members(raw, "auths"); err != nil {
		return nil, nil, err
	}
	return top, auths, nil
}

// members splits a valid JSON object into its members with their exact
// bytes. Duplicate keys are rejected: a map keeps only the last one, so
// accepting them would silently drop data on rewrite. For "auths" every
// value must be an object too.
func members(data []byte, what string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, corrupt(what + " is not an object")
	}
	out := map[string]json.RawMessage{}
	for n := 1; dec.More(); n++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, corrupt("not JSON")
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, corrupt("not JSON")
		}
		if _, dup := out[key]; dup {
			return nil, corrupt(what + " has a duplicate key")
		}
		if what == authsKey && raw[0] != '{' {
			// Named by 1-based position, not key: keys belong to other
			// teams and the message must not echo input.
			return nil, corrupt(fmt.Sprintf("auths entry %d is not an object", n))
		}
		out[key] = raw
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return nil, corrupt("not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, corrupt("not JSON")
	}
	return out, nil
}

// appendObject writes members as a compact JSON object, keys sorted for a
// deterministic output. Values are copied verbatim (json.Marshal would
// compact them and escape HTML characters, changing foreign bytes).
func appendObject(buf []byte, m map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		// Marshaling a string cannot fail; keys came from the JSON decoder
		// or from validated hosts and are valid UTF-8.
		qk, _ := json.Marshal(k)
		buf = append(buf, qk...)
		buf = append(buf, ':')
		buf = append(buf, m[k]...)
	}
	return append(buf, '}')
}
