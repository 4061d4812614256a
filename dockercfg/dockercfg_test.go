package dockercfg

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Secrets planted in test inputs; error messages must never contain them.
const (
	foreignUser = "svc$Robot#42"
	foreignPass = "P@ss-9Xq7!zZ"
	newUser     = "rot8r~User"
	newPass     = "N3w%Pw^Kq&8"
)

var newCred = Credential{Username: newUser, Password: newPass}

func b64(s string) string    { return base64.StdEncoding.EncodeToString([]byte(s)) }
func rawB64(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }

// freshEntry is the exact entry Merge must write for cred.
func freshEntry(cred Credential) string {
	return `{"username":` + quote(cred.Username) + `,"password":` + quote(cred.Password) +
		`,"auth":"` + b64(cred.Username+":"+cred.Password) + `"}`
}

func quote(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// foreignAuth is a foreign entry whose auth field is itself a secret.
var foreignAuth = b64(foreignUser + ":" + foreignPass)

// knownMessages are every error text the package may produce, with numbers
// replaced by N. Checking against this closed list proves that no message
// carries any input or credential bytes.
var knownMessages = map[string]bool{
	"corrupt docker config: not base64":                                        true,
	"corrupt docker config: not JSON":                                          true,
	"corrupt docker config: top level is not an object":                        true,
	"corrupt docker config: top level has a duplicate key":                     true,
	"corrupt docker config: auths is not an object":                            true,
	"corrupt docker config: auths has a duplicate key":                         true,
	"corrupt docker config: auths entry N is not an object":                    true,
	`corrupt docker config: a top-level key differs from "auths" only in case`: true,
	"dockercfg: invalid argument: no hosts given":                              true,
	"dockercfg: invalid argument: host N is not printable ASCII":               true,
	"dockercfg: invalid argument: host N is empty after normalizing":           true,
	"dockercfg: invalid argument: username is empty":                           true,
	"dockercfg: invalid argument: password is empty":                           true,
	"dockercfg: invalid argument: username contains ':'":                       true,
	"dockercfg: invalid argument: username is not valid UTF-8":                 true,
	"dockercfg: invalid argument: password is not valid UTF-8":                 true,
}

// Only free-standing numbers are indices; "base64" and "UTF-8" are text.
var digits = regexp.MustCompile(` [0-9]+ `)

func checkMessage(t testing.TB, err error) {
	t.Helper()
	if msg := digits.ReplaceAllString(err.Error(), " N "); !knownMessages[msg] {
		t.Fatalf("unexpected error message %q", err.Error())
	}
}

// checkNoLeak fails if the message contains any 4-byte window of a secret.
func checkNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	msg := err.Error()
	for _, s := range secrets {
		for i := 0; i+4 <= len(s); i++ {
			if strings.Contains(msg, s[i:i+4]) {
				t.Fatalf("error %q leaks part of a secret", msg)
			}
		}
	}
}

// auths decodes the auths member of an encoded config.
func authsOf(t testing.TB, encoded string) map[string]json.RawMessage {
	t.Helper()
	top, err := decodeStored(encoded)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	m := map[string]json.RawMessage{}
	if raw, ok := top["auths"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("auths: %v", err)
		}
	}
	return m
}

const prettyConfig = `{
	"auths": {
		"https://index.docker.io/v1/": {
			"auth": "` + "FOREIGN_AUTH" + `",
			"email": "ops@example.com"
		},
		"quay.io": {"username": "` + foreignUser + `", "password": "` + foreignPass + `", "email": "x@y.z", "identitytoken": "tok"},
		"REGISTRY.example.com:5000": {"auth":"` + "FOREIGN_AUTH" + `"},
		"registry.example.com/team-a": {"auth":"` + "FOREIGN_AUTH" + `"},
		"HTTPS://Registry.Example.com/": {"username":"old","password":"` + foreignPass + `","auth":"b2xkOm9sZA=="},
		"registry.example.com": {"username":"old","password":"` + foreignPass + `"}
	},
	"credsStore": "desktop",
	"HttpHeaders": {"User-Agent": "Docker-Client/<&> 1.0", "X-Meta": [1, 2.50, 1e3]},
	"psFormat" :   "table {{.ID}}\t{{.Image}}"
}`

var realistic = strings.ReplaceAll(prettyConfig, "FOREIGN_AUTH", foreignAuth)

func TestMerge(t *testing.T) {
	fresh := freshEntry(newCred)
	tests := []struct {
		name  string
		in    string
		hosts []string
		// wantAuths maps every expected auths key to its exact JSON value;
		// "" stands for the fresh entry.
		wantAuths map[string]string
		// wantTop maps every expected non-auths top-level key to its exact value.
		wantTop map[string]string
	}{
		{
			name:      "empty string is an empty config",
			in:        "",
			hosts:     []string{"registry.example.com"},
			wantAuths: map[string]string{"registry.example.com": ""},
		},
		{
			name:      "empty object",
			in:        b64(`{}`),
			hosts:     []string{"https://Registry.Example.com/"},
			wantAuths: map[string]string{"registry.example.com": ""},
		},
		{
			name:      "null auths",
			in:        b64(`{"auths":null,"credsStore":"ecr-login"}`),
			hosts:     []string{"r.io"},
			wantAuths: map[string]string{"r.io": ""},
			wantTop:   map[string]string{"credsStore": `"ecr-login"`},
		},
		{
			name:      "existing same host replaced, extra fields of the old entry dropped",
			in:        b64(`{"auths":{"r.io":{"username":"old","password":"` + foreignPass + `","email":"a@b.c"}}}`),
			hosts:     []string{"r.io"},
			wantAuths: map[string]string{"r.io": ""},
		},
		{
			name: "case, scheme and trailing-slash variants collapse into one entry",
			in: b64(`{"auths":{"HTTPS://R.io/":{"auth":"` + foreignAuth + `"},"http://r.io//":{"auth":"x"},` +
				`"r.io":{"auth":"y"},"oci+x://R.IO":{},"other.io":{"auth":"z"}}}`),
			hosts:     []string{"r.io"},
			wantAuths: map[string]string{"r.io": "", "other.io": `{"auth":"z"}`},
		},
		{
			name:      "port is another registry",
			in:        b64(`{"auths":{"r.io:5000":{"auth":"` + foreignAuth + `"},"https://r.io:5000/":{"auth":"p"}}}`),
			hosts:     []string{"R.io"},
			wantAuths: map[string]string{"r.io": "", "r.io:5000": `{"auth":"` + foreignAuth + `"}`, "https://r.io:5000/": `{"auth":"p"}`},
		},
		{
			name:      "rotating the port leaves the bare host",
			in:        b64(`{"auths":{"r.io":{"auth":"` + foreignAuth + `"},"r.io:5000":{"auth":"p"}}}`),
			hosts:     []string{"r.io:5000"},
			wantAuths: map[string]string{"r.io:5000": "", "r.io": `{"auth":"` + foreignAuth + `"}`},
		},
		{
			name:      "a path is another entry",
			in:        b64(`{"auths":{"r.io/v1":{"auth":"a"},"https://r.io/team/":{"auth":"b"}}}`),
			hosts:     []string{"r.io"},
			wantAuths: map[string]string{"r.io": "", "r.io/v1": `{"auth":"a"}`, "https://r.io/team/": `{"auth":"b"}`},
		},
		{
			name:  "foreign entries and top-level keys keep their exact bytes",
			in:    b64(realistic),
			hosts: []string{"registry.example.com"},
			wantAuths: map[string]string{
				"registry.example.com":        "",
				"https://index.docker.io/v1/": "{\n\t\t\t\"auth\": \"" + foreignAuth + "\",\n\t\t\t\"email\": \"ops@example.com\"\n\t\t}",
				"quay.io": `{"username": "` + foreignUser + `", "password": "` + foreignPass +
					`", "email": "x@y.z", "identitytoken": "tok"}`,
				"REGISTRY.example.com:5000":   `{"auth":"` + foreignAuth + `"}`,
				"registry.example.com/team-a": `{"auth":"` + foreignAuth + `"}`,
			},
			wantTop: map[string]string{
				"credsStore":  `"desktop"`,
				"HttpHeaders": `{"User-Agent": "Docker-Client/<&> 1.0", "X-Meta": [1, 2.50, 1e3]}`,
				"psFormat":    `"table {{.ID}}\t{{.Image}}"`,
			},
		},
		{
			name:  "several hosts, duplicates after normalizing written once",
			in:    rawB64(`{"auths":{"a.io":{"auth":"x"},"c.io":{"auth":"` + foreignAuth + `"}},"x":1}`),
			hosts: []string{"a.io", "https://A.IO/", "b.io"},
			wantAuths: map[string]string{
				"a.io": "", "b.io": "", "c.io": `{"auth":"` + foreignAuth + `"}`,
			},
			wantTop: map[string]string{"x": "1"},
		},
		{
			name:      "raw (unpadded) base64 input",
			in:        rawB64(`{"auths":{"q.io":{"auth":"` + foreignAuth + `"}}}`),
			hosts:     []string{"r.io"},
			wantAuths: map[string]string{"r.io": "", "q.io": `{"auth":"` + foreignAuth + `"}`},
		},
		{
			name:      "escaped keys and odd values survive",
			in:        b64(`{"auths":{"q\u002eio":{"auth":"a","n":1.50E+3,"h":"<&>\u00e9"}},"k\"ey":[true,null]}`),
			hosts:     []string{"r.io"},
			wantAuths: map[string]string{"r.io": "", "q.io": `{"auth":"a","n":1.50E+3,"h":"<&>\u00e9"}`},
			wantTop:   map[string]string{`k"ey`: `[true,null]`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := mergeStored(tc.in, tc.hosts, newCred)
			if err != nil {
				t.Fatalf("Merge: %v", err)
			}
			if _, err := base64.StdEncoding.DecodeString(out); err != nil {
				t.Fatalf("output is not padded std base64: %v", err)
			}
			top, err := decodeStored(out)
			if err != nil {
				t.Fatalf("decodeStored(output): %v", err)
			}
			for k, v := range tc.wantTop {
				if got := string(top[k]); got != v {
					t.Errorf("top-level %q: %d bytes, not the %d expected", k, len(got), len(v))
				}
			}
			if len(top) != len(tc.wantTop)+1 {
				t.Errorf("top-level keys = %v, want %d plus auths", keys(top), len(tc.wantTop))
			}
			auths := authsOf(t, out)
			for k, v := range tc.wantAuths {
				if v == "" {
					v = fresh
				}
				if got := string(auths[k]); got != v {
					t.Errorf("auths[%q]: %d bytes, not the %d expected (the fresh entry: %v)", k, len(got), len(v), got == fresh)
				}
			}
			if len(auths) != len(tc.wantAuths) {
				t.Errorf("auths keys = %v, want %d", keys(auths), len(tc.wantAuths))
			}
			// Deterministic and idempotent: a second rotation changes nothing.
			again, err := mergeStored(out, tc.hosts, newCred)
			if err != nil || again != out {
				t.Errorf("second Merge differs: %v", err)
			}
		})
	}
}

func keys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestMergeCorrupt(t *testing.T) {
	e := `{"auth":"` + foreignAuth + `","password":"` + foreignPass + `"}`
	tests := []struct {
		name, in, msg string
	}{
		{"not base64", "!!" + foreignPass + "!!", "not base64"},
		{"base64 with spaces", b64(`{}`) + " ", "not base64"},
		{"not JSON", b64(`{"auths":{"r.io":` + e), "not JSON"},
		{"not JSON, raw encoding", rawB64(`{"auths":` + foreignPass + `}`), "not JSON"},
		{"trailing data", b64(`{"x":"` + foreignPass + `"} {}`), "not JSON"},
		{"whitespace only", b64("  \n"), "not JSON"},
		{"top level array", b64(`["` + foreignPass + `"]`), "top level is not an object"},
		{"top level string", b64(`"` + foreignPass + `"`), "top level is not an object"},
		{"top level null", b64(`null`), "top level is not an object"},
		{"auths array", b64(`{"auths":["` + foreignPass + `"]}`), "auths is not an object"},
		{"auths string", b64(`{"auths":"` + foreignAuth + `"}`), "auths is not an object"},
		{"auths entry string", b64(`{"auths":{"a":{},"b":` + e + `,"c":"` + foreignAuth + `"}}`), "auths entry 3 is not an object"},
		{"auths entry null", b64(`{"auths":{"a":null}}`), "auths entry 1 is not an object"},
		{"auths entry number", b64(`{"auths":{"a":{},"b":42}}`), "auths entry 2 is not an object"},
		{"duplicate auths key", b64(`{"auths":{"q.io":` + e + `,"q.io":{}}}`), "auths has a duplicate key"},
		{"duplicate auths key via escape", b64(`{"auths":{"q.io":` + e + `,"q\u002eio":{}}}`), "auths has a duplicate key"},
		{"duplicate top-level key", b64(`{"auths":{"q.io":` + e + `},"auths":{}}`), "top level has a duplicate key"},
		{"Auths spelled in another case", b64(`{"Auths":{"q.io":` + e + `}}`), `a top-level key differs from "auths" only in case`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(fn string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s: err = %v, want ErrCorrupt", fn, err)
				}
				if want := "corrupt docker config: " + tc.msg; err.Error() != want {
					t.Errorf("%s: message %q, want %q", fn, err.Error(), want)
				}
				checkMessage(t, err)
				checkNoLeak(t, err, foreignPass, foreignAuth, newUser, newPass, tc.in)
			}
			out, err := mergeStored(tc.in, []string{"q.io"}, newCred)
			if out != "" {
				t.Errorf("Merge returned %d bytes of output with an error", len(out))
			}
			check("Merge", err)
			_, err = decodeStored(tc.in)
			check("Decode", err)
		})
	}
}

func TestMergeInvalidArguments(t *testing.T) {
	tests := []struct {
		name  string
		hosts []string
		cred  Credential
	}{
		{"nil hosts", nil, newCred},
		{"no hosts", []string{}, newCred},
		{"empty host", []string{"r.io", ""}, newCred},
		{"scheme only", []string{"https://"}, newCred},
		{"slashes only", []string{"///"}, newCred},
		{"host with space", []string{"r.io "}, newCred},
		{"host with newline", []string{"r.io\n"}, newCred},
		{"non-ASCII host", []string{"r\u00e9.io"}, newCred},
		{"empty username", []string{"r.io"}, Credential{"", newPass}},
		{"empty password", []string{"r.io"}, Credential{newUser, ""}},
		{"username with colon", []string{"r.io"}, Credential{"a:" + newUser, newPass}},
		{"invalid UTF-8 password", []string{"r.io"}, Credential{newUser, newPass + "\xff"}},
		{"invalid UTF-8 username", []string{"r.io"}, Credential{newUser + "\xff", newPass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mergeStored(b64(realistic), tc.hosts, tc.cred)
			if err == nil || errors.Is(err, ErrCorrupt) {
				t.Fatalf("Merge err = %v, want a non-corrupt error", err)
			}
			checkMessage(t, err)
			checkNoLeak(t, err, newUser, newPass, foreignPass)
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"registry.example.com", "registry.example.com"},
		{"Registry.Example.COM", "registry.example.com"},
		{"https://registry.example.com", "registry.example.com"},
		{"HTTP://registry.example.com/", "registry.example.com"},
		{"oci+https://r.io///", "r.io"},
		{"docker://https://r.io", "r.io"},
		{"r.io:5000", "r.io:5000"},
		{"https://R.io:5000/", "r.io:5000"},
		{"https://index.docker.io/v1/", "index.docker.io/v1"},
		{"r.io/Team/", "r.io/team"},
		{"r.io/a://b", "r.io/a://b"}, // "r.io/a" is no scheme
		{"1ab://r.io", "1ab://r.io"}, // schemes start with a letter
		{"://r.io", "://r.io"},       // nor are they empty
		{"https://", ""},
		{"/", ""},
		{"", ""},
		{"\u212Aey.io", "\u212Aey.io"}, // Kelvin sign: no Unicode folding
		{"\xffR.IO", "\xffr.io"},
	}
	for _, tc := range tests {
		if got := NormalizeHost(tc.in); got != tc.want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEquivalent(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, "{ \"b\" : [1, 2],\n\"a\":1 }", true},
		{`{"a":1}`, `{"a":1.0}`, true},
		{`{"a":1}`, `{"a":1e0}`, true},
		{`{"a":1500}`, `{"a":1.50E+3}`, true},
		{`{"a":0}`, `{"a":-0.0e7}`, true},
		{`{"a":0.001}`, `{"a":1e-3}`, true},
		{`{"a":12345678901234567890}`, `{"a":12345678901234567891}`, false},
		{`{"a":1e999999999}`, `{"a":1e999999998}`, false},
		{`{"a":1}`, `{"a":-1}`, false},
		{`{"a":"1"}`, `{"a":1}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":null}`, `{}`, false},
		{`{"a":{"b":true}}`, `{"a":{"b":false}}`, false},
		{`{"a":"\u00e9"}`, `{"a":"é"}`, true},
		{`[1,{"x":null}]`, `[1, {"x": null}]`, true},
	}
	for _, tc := range tests {
		got, err := equivalentStored(b64(tc.a), rawB64(tc.b))
		if err != nil || got != tc.want {
			t.Errorf("equivalentStored(%s, %s) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
	if ok, err := equivalentStored("", b64("{ }")); !ok || err != nil {
		t.Errorf(`equivalentStored("", {}) = %v, %v`, ok, err)
	}
	for _, bad := range []string{"%%%", b64(`{"a":`), b64(`{} x`)} {
		if _, err := equivalentStored(b64(`{}`), bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Equivalent with corrupt input: err = %v", err)
		} else {
			checkMessage(t, err)
		}
	}
}

func TestDecode(t *testing.T) {
	top, err := decodeStored(b64(realistic))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(top["credsStore"]); got != `"desktop"` {
		t.Errorf("credsStore = %s", got)
	}
	if !bytes.HasPrefix(top["auths"], []byte("{\n\t\t\"https://index.docker.io/v1/\"")) {
		t.Errorf("auths not returned verbatim (%d bytes)", len(top["auths"]))
	}
	if top, err := decodeStored(""); err != nil || len(top) != 0 {
		t.Errorf(`decodeStored("") = %v, %v`, top, err)
	}
}

// BenchmarkMerge rotates two hosts in a config with five foreign entries and
// a few other top-level keys, the typical shape of a shared pull secret.
func BenchmarkMerge(b *testing.B) {
	config := `{"auths":{` +
		`"https://index.docker.io/v1/":{"auth":"` + foreignAuth + `","email":"ops@example.com"},` +
		`"quay.io":{"username":"` + foreignUser + `","password":"` + foreignPass + `","auth":"` + foreignAuth + `"},` +
		`"ghcr.io":{"username":"bot","password":"ghp_0123456789abcdef0123456789abcdef0123","auth":"` + foreignAuth + `"},` +
		`"123456789012.dkr.ecr.us-east-1.amazonaws.com":{"auth":"` + foreignAuth + `"},` +
		`"registry.internal:5000":{"auth":"` + foreignAuth + `"},` +
		`"registry.cn-hangzhou.aliyuncs.com":{"username":"old","password":"old","auth":"b2xkOm9sZA=="},` +
		`"https://registry-vpc.cn-hangzhou.aliyuncs.com/":{"username":"old","password":"old","auth":"b2xkOm9sZA=="}` +
		`},"credsStore":"desktop","HttpHeaders":{"User-Agent":"Docker-Client/24.0.7 (linux)"}}`
	encoded := b64(config)
	hosts := []string{"registry.cn-hangzhou.aliyuncs.com", "registry-vpc.cn-hangzhou.aliyuncs.com"}
	cred := Credential{Username: "cr_temp_user", Password: "eyJpbnN0YW5jZUlkIjoiY3JpLXh4eCIsInRpbWUiOiIxNzAwMDAwMDAwIn0"}
	b.ReportAllocs()
	b.SetBytes(int64(len(encoded)))
	for b.Loop() {
		if _, err := mergeStored(encoded, hosts, cred); err != nil {
			b.Fatal(err)
		}
	}
}
