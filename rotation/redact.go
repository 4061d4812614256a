package rotation

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// pieceLen is the shortest run of a secret that a server's message may not
// carry: a message that quotes part of a request (a cut-off value, an
// escaped one) is cleaned of every run this long of anything secret.
const pieceLen = 12

// maxMessage bounds a server's message in a report or log, after redaction.
const maxMessage = 300

// maxServerText is what the redactor reads of a server's message: its index
// costs some tens of bytes per byte read, and an error page can be megabytes.
const maxServerText = 4 << 10

// learn is the one way into the invocation's redactor: every secret value
// the invocation learns goes through it before anything could print it —
// the function's own keys (Credentials), each token minted (Token), each
// secret read, merged or read back (Secret: its docker config in every
// form a request carries it, its logins, whatever the store holds beside
// it), and other values as they are ([]string: a write's wire forms, the
// secrets an adapter holds, held). It keeps none of v: a Secret passed in
// is not copied to the heap for it.
func (w *invocation) learn(v any) {
	switch v := v.(type) {
	case Credentials:
		w.redact.add(v.AccessKeySecret, v.SecurityToken)
	case Token:
		w.redact.add(v.Password, v.Username+":"+v.Password)
	case Secret:
		if len(v.Config) > 0 {
			w.redact.add(string(v.Config), base64.StdEncoding.EncodeToString(v.Config))
			w.redact.add(credentialsIn(v.Config)...)
		}
		for _, x := range v.Rest {
			w.redact.add(x)
		}
	case []string:
		w.redact.add(v...)
	}
}

// held lists the secrets an adapter holds of its own (a port.SecretHolder:
// another cloud's keys, an assumed role's session), for learn.
func held(adapter any) []string {
	if h, ok := adapter.(port.SecretHolder); ok {
		return h.Sensitive()
	}
	return nil
}

// credentialsIn lists the secret values of a docker config's logins, so
// that a piece of any of them is recognised in a server's message.
func credentialsIn(doc []byte) []string {
	var cfg struct {
		Auths map[string]map[string]json.RawMessage `json:"auths"`
	}
	if json.Unmarshal(doc, &cfg) != nil {
		return nil
	}
	var out []string
	for _, e := range cfg.Auths {
		for _, k := range []string{"password", "auth", "identitytoken", "registrytoken"} {
			var v string
			if json.Unmarshal(e[k], &v) == nil && v != "" {
				out = append(out, v)
				if k == "auth" {
					if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
						out = append(out, string(dec))
					}
				}
			}
		}
	}
	return out
}

// redactor removes known secret values from text bound for a report or a
// log. Messages are built without secrets in the first place; this is the
// second line of defence, and the only one for what a server said. Values
// come in through learn only.
type redactor struct {
	mu     sync.Mutex
	values []string
	seen   map[string]bool
}

// add registers secret values in every form a request could carry them:
// as they are, base64-encoded, JSON-escaped, URL-encoded, and percent-encoded
// once and twice (a signature's string to sign, which a server may quote
// back, encodes the request's already encoded parameters again).
func (r *redactor) add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if len(v) < 8 {
			continue
		}
		js, _ := json.Marshal(v)
		pct := percentEncode(v)
		for _, f := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), string(js[1 : len(js)-1]),
			url.QueryEscape(v), strings.ReplaceAll(string(js[1:len(js)-1]), `\`, `\\`), pct, percentEncode(pct)} {
			if !r.seen[f] {
				if r.seen == nil {
					r.seen = map[string]bool{}
				}
				r.seen[f] = true
				r.values = append(r.values, f)
			}
		}
	}
}

// clean replaces every whole known value.
func (r *redactor) clean(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// percentEncode is RFC 3986 percent-encoding, as signatures encode values:
// every byte but A-Z a-z 0-9 - _ . ~ as %XX.
func percentEncode(s string) string {
	q := url.QueryEscape(s)
	if !strings.ContainsAny(q, "+*") && !strings.Contains(q, "%7E") {
		return q
	}
	return rfc3986.Replace(q)
}

// rfc3986 turns url.QueryEscape's form into RFC 3986's.
var rfc3986 = strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~")

// server cleans a server's message of every piece of a known value, then
// cuts it short: in that order, so a cut can never leave a piece too short
// to recognise. Only the message's first maxServerText bytes are read.
func (r *redactor) server(msg string) string {
	msg = r.pieces(r.clean(cutAt(msg, maxServerText)))
	if len(msg) > maxMessage {
		msg = cutAt(msg, maxMessage) + "…"
	}
	return msg
}

// cutAt cuts s to at most n bytes, on a character boundary.
func cutAt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// pieces masks every run of pieceLen or more bytes of msg that occurs in a
// known value.
func (r *redactor) pieces(msg string) string {
	if len(msg) < pieceLen {
		return msg
	}
	// Index the message's windows, then walk the values' windows: the
	// message is short, the values may be long.
	at := map[string][]int{}
	for i := 0; i+pieceLen <= len(msg); i++ {
		at[msg[i:i+pieceLen]] = append(at[msg[i:i+pieceLen]], i)
	}
	masked := make([]bool, len(msg))
	hit := false
	r.mu.Lock()
	for _, v := range r.values {
		for j := 0; j+pieceLen <= len(v); j++ {
			for _, i := range at[v[j:j+pieceLen]] {
				hit = true
				for k := i; k < i+pieceLen; k++ {
					masked[k] = true
				}
			}
		}
	}
	r.mu.Unlock()
	if !hit {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if !masked[i] {
			b.WriteByte(msg[i])
			continue
		}
		if i == 0 || !masked[i-1] {
			b.WriteString("[redacted]")
		}
	}
	return b.String()
}
