package dockercfg

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// badArgs is the test's own statement of which hosts and credentials Merge
// must refuse, independent of how Merge checks them.
func badArgs(hosts []string, cred Credential) bool {
	if len(hosts) == 0 || cred.Username == "" || cred.Password == "" ||
		strings.Contains(cred.Username, ":") ||
		!utf8.ValidString(cred.Username) || !utf8.ValidString(cred.Password) {
		return true
	}
	for _, h := range hosts {
		if NormalizeHost(h) == "" {
			return true
		}
		for _, r := range []byte(h) {
			if r <= ' ' || r >= 0x7f {
				return true
			}
		}
	}
	return false
}

// FuzzMerge feeds Merge a config given as raw bytes, encoded per mode (std
// base64, raw base64, or used verbatim as the stored value), a comma-separated
// host list and a credential, and checks the invariants that make a rotation
// safe rather than just the absence of panics.
func FuzzMerge(f *testing.F) {
	f.Add([]byte(""), byte(0), "registry.example.com", "user", "pass")
	f.Add([]byte(realistic), byte(0), "HTTPS://Registry.Example.com/", newUser, newPass)
	f.Add([]byte(`{"auths":{"https://r.io":{"auth":"eA=="},"R.IO/":{},"r.io:5000":{"auth":"eQ=="},"r.io/v1":{"email":"e"}}}`),
		byte(1), "r.io", "u", "p:w")
	f.Add([]byte(`{"auths":{"a":{},"b":"x"}}`), byte(0), "a", "u", "p")
	f.Add([]byte(`{"auths":{"q.io":{},"q\u002eio":{}}}`), byte(0), "q.io", "u", "p")
	f.Add([]byte(`not base64 at all!`), byte(2), "r.io", "u", "p")
	f.Add([]byte(`{"Auths":{"q.io":{}},"credsStore":"x"}`), byte(0), "r.io", "u", "p")
	f.Add([]byte(`{"auths":null,"n":1.50e+3,"s":"<&>\u00e9\ud800"}`), byte(1), "a.io,https://B.io/,a.io", "u", "p")
	f.Add([]byte(`{"auths":{}}`), byte(0), ",", "a:b", "")

	f.Fuzz(func(t *testing.T, config []byte, mode byte, host, username, password string) {
		var encoded string
		switch mode % 3 {
		case 0:
			encoded = base64.StdEncoding.EncodeToString(config)
		case 1:
			encoded = base64.RawStdEncoding.EncodeToString(config)
		default:
			encoded = string(config)
		}
		hosts := strings.Split(host, ",")
		cred := Credential{Username: username, Password: password}
		bad := badArgs(hosts, cred)

		in, decErr := decodeStored(encoded)
		if decErr != nil {
			checkMessage(t, decErr)
			if !errors.Is(decErr, ErrCorrupt) {
				t.Fatalf("Decode error does not wrap ErrCorrupt: %v", decErr)
			}
		}
		// Any decodable config is JSON, and JSON equals itself.
		if eq, err := equivalentStored(encoded, encoded); decErr == nil && (err != nil || !eq) {
			t.Fatalf("equivalentStored(x, x) = %v, %v", eq, err)
		}

		out, err := mergeStored(encoded, hosts, cred)
		if err != nil {
			checkMessage(t, err)
			switch {
			case out != "":
				t.Fatal("output returned with an error")
			case errors.Is(err, ErrCorrupt) && decErr == nil:
				t.Fatalf("Merge says corrupt, Decode does not: %v", err)
			case !errors.Is(err, ErrCorrupt) && !bad:
				t.Fatalf("Merge refused valid arguments: %v", err)
			}
			return
		}
		if bad {
			t.Fatalf("Merge accepted invalid arguments %q %q", hosts, cred.Username)
		}
		if decErr != nil {
			t.Fatalf("Merge accepted what Decode rejects: %v", decErr)
		}

		if _, err := base64.StdEncoding.DecodeString(out); err != nil {
			t.Fatal("output is not std base64")
		}
		got, err := decodeStored(out)
		if err != nil {
			t.Fatalf("output does not decode: %v", err)
		}

		rotated := map[string]bool{}
		for _, h := range hosts {
			rotated[NormalizeHost(h)] = true
		}
		inAuths, outAuths := rawAuths(t, in), rawAuths(t, got)
		for k, v := range inAuths {
			if rotated[NormalizeHost(k)] {
				continue
			}
			w, ok := outAuths[k]
			if !ok {
				t.Fatalf("foreign entry lost")
			}
			if !bytes.Equal(v, w) {
				t.Fatalf("foreign entry changed: %d bytes -> %d", len(v), len(w))
			}
			if eq, err := equivalentStored(b64(string(v)), b64(string(w))); !eq || err != nil {
				t.Fatalf("foreign entry not equivalent: %v", err)
			}
		}
		for k := range outAuths {
			_, kept := inAuths[k]
			switch {
			case rotated[k]:
			case rotated[NormalizeHost(k)]:
				t.Fatalf("a variant of a rotated host survived")
			case !kept:
				t.Fatalf("unexpected auths entry appeared")
			}
		}
		for h := range rotated {
			if string(outAuths[h]) != freshEntry(cred) {
				t.Fatalf("rotated host missing or not holding exactly the new credential")
			}
		}

		for k, v := range in {
			if k == "auths" {
				continue
			}
			if w, ok := got[k]; !ok || !bytes.Equal(v, w) {
				t.Fatalf("top-level key lost or changed")
			}
		}
		if _, ok := got["auths"]; !ok || len(got) != len(in)+boolInt(in["auths"] == nil) {
			t.Fatalf("top-level keys added or lost")
		}

		// Rotating again with the same credential is a no-op, byte for byte.
		if again, err := mergeStored(out, hosts, cred); err != nil || again != out {
			t.Fatalf("Merge is not idempotent: %v", err)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func rawAuths(t *testing.T, top map[string]json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	m := map[string]json.RawMessage{}
	if raw, ok := top["auths"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("auths of a decodable config: %v", err)
		}
	}
	return m
}

var schemePrefix = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://`)

// FuzzNormalizeHost checks that NormalizeHost is idempotent (otherwise a key
// written by Merge could later fail to match its own host) and that its
// result really is normalized.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{
		"HTTPS://Registry.Example.com/", "a://b://c", "r.io:5000//", "http:///",
		"r.io/V1/", "://x", "1http://x", "\xffK\u212a", "r.io/a://b/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeHost(s)
		if again := NormalizeHost(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
		if strings.HasSuffix(n, "/") || schemePrefix.MatchString(n) || strings.IndexFunc(n, isASCIIUpper) >= 0 {
			t.Fatalf("not normalized: %q -> %q", s, n)
		}
		if len(n) > len(s) {
			t.Fatalf("grew: %q -> %q", s, n)
		}
	})
}

func isASCIIUpper(r rune) bool { return 'A' <= r && r <= 'Z' }

// FuzzMergeJSON checks the document format that KMS, CSMS and SSM hold (the
// docker config JSON itself) against the base64 format SAE holds: the same
// verdicts and the same result bytes, for every input.
func FuzzMergeJSON(f *testing.F) {
	f.Add([]byte(""), "registry.example.com", "user", "pass")
	f.Add([]byte(realistic), "HTTPS://Registry.Example.com/", newUser, newPass)
	f.Add([]byte(`{"auths":{"a":{},"b":"x"}}`), "a", "u", "p")
	f.Add([]byte(`[1,2]`), "a", "u", "p")
	f.Add([]byte(` {"auths":{}} `), "a", "u", "p")
	f.Fuzz(func(t *testing.T, doc []byte, host, username, password string) {
		hosts := strings.Split(host, ",")
		cred := Credential{Username: username, Password: password}
		viaJSON, jsonErr := MergeJSON(doc, hosts, cred)
		viaBase64, b64Err := mergeStored(base64.StdEncoding.EncodeToString(doc), hosts, cred)
		if (jsonErr == nil) != (b64Err == nil) {
			t.Fatalf("MergeJSON error %v, Merge error %v", jsonErr, b64Err)
		}
		if jsonErr != nil {
			checkMessage(t, jsonErr)
			if errors.Is(jsonErr, ErrCorrupt) != errors.Is(b64Err, ErrCorrupt) {
				t.Fatalf("different verdicts: %v / %v", jsonErr, b64Err)
			}
			if errors.Is(jsonErr, ErrCorrupt) && Check(doc) == nil {
				t.Fatalf("MergeJSON says corrupt, Check does not: %v", jsonErr)
			}
			return
		}
		if base64.StdEncoding.EncodeToString(viaJSON) != viaBase64 {
			t.Fatal("MergeJSON and Merge disagree on the result")
		}
		if err := Check(doc); err != nil {
			t.Fatalf("MergeJSON accepted what Check refuses: %v", err)
		}
		if eq, err := EquivalentJSON(viaJSON, viaJSON); err != nil || !eq {
			t.Fatalf("EquivalentJSON(x, x) = %v, %v", eq, err)
		}
	})
}
