package rotation

import (
	"encoding/base64"
	"net/url"
	"runtime"
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

// A server's message is read up to its first 4 KiB: an error page of
// megabytes costs the redactor no more than a short one.
func TestRedactReadsAServerMessageUpTo4KiB(t *testing.T) {
	const secret = "Zq8vN2xR7mT4pL9wK3sH6jB1cF5dG0aE"
	r := &redactor{}
	r.add(secret, `{"auths":{"r.io":{"password":"`+secret+`"}}}`)
	page := "<html>" + secret + strings.Repeat("<p>Internal error</p>", 8<<20/21) + secret + "</html>"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := r.server(page)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("redacting an 8 MiB page allocated %d bytes, want at most 1 MiB", alloc)
	}
	if strings.Contains(got, secret[:pieceLen]) || len(got) > maxMessage+len("…") {
		t.Errorf("the result holds the secret or is too long (%d bytes)", len(got))
	}
}

// The forms a signature's string to sign quotes are known: a value
// percent-encoded once, and the encoded parameters encoded again.
func TestRedactPercentEncodedTwice(t *testing.T) {
	doc := `{"auths":{"r.io":{"username":"u","password":"p/w+d=1","auth":"dTpwL3crZD0x"}}}`
	token := "CAIS+f3x/1q=k\"9*z~b c:d@e&f"
	r := &redactor{}
	r.add(doc, token)
	for _, v := range []string{doc, token} {
		once := url.QueryEscape(v)
		once = strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(once)
		twice := url.QueryEscape(once)
		for n, form := range []string{once, twice} {
			msg := "server string to sign is:POST&%2F&AccessKeyId%3Dx%26SecretData%3D" + form + "%26SecurityToken%3D"
			got := r.server(msg)
			for i := 0; i+pieceLen <= len(form); i++ {
				if strings.Contains(got, form[i:i+pieceLen]) {
					t.Fatalf("a piece of a secret percent-encoded %d time(s) survived (at %d)", n+1, i)
				}
			}
		}
	}
}
