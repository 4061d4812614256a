package rotation

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// A server's message is cleaned of every piece of a known secret, in every
// form a request carries it, before it is cut short.
func TestRedactServerMessages(t *testing.T) {
	const secret = "Zq8vN2xR7mT4pL9wK3sH6jB1cF5dG0aE"
	doc := `{"auths":{"r.io":{"password":"` + secret + `"}}}`
	r := &redactor{}
	r.add(secret, doc)
	long := strings.Repeat("x", maxMessage-15) // a cut first would keep 15 bytes of the secret
	for _, tc := range []struct{ name, msg string }{
		{"whole", "bad value " + secret},
		{"a cut-off piece", "bad value " + secret[:14] + "…"},
		{"a piece from the middle", "near " + secret[9:25] + " end"},
		{"base64 of the document", "SecretData=" + base64.StdEncoding.EncodeToString([]byte(doc))[:40]},
		{"JSON-escaped document", `{"SecretData":"` + strings.ReplaceAll(doc, `"`, `\"`) + `"}`},
		{"URL-encoded document", "q=" + url.QueryEscape(doc)},
		{"secret across the cut point", long + secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.server(tc.msg)
			for i := 0; i+pieceLen <= len(secret); i++ {
				if strings.Contains(got, secret[i:i+pieceLen]) {
					t.Fatalf("a piece of the secret survived at %d", i)
				}
			}
			if len(got) > maxMessage+len("…") {
				t.Errorf("%d bytes, want at most %d", len(got), maxMessage)
			}
		})
	}
	if got := r.server("Request was denied due to user flow control."); got != "Request was denied due to user flow control." {
		t.Errorf("a message without secrets changed: %q", got)
	}
	short := &redactor{}
	short.add("1234567") // too short to be told from ordinary text
	if got := short.clean("id 1234567"); got != "id 1234567" {
		t.Errorf("a short value was masked: %q", got)
	}
}
