package emulator_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/emulator"
)

func TestSignatures(t *testing.T) {
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{emulator.DefaultCredential, stsCred}})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	srv.AddInstance(emulator.Instance{ID: "cri-test"})

	wrongSecret := emulator.DefaultCredential
	wrongSecret.AccessKeySecret = "not-the-secret"
	unknown := emulator.Credential{AccessKeyID: "LTAIunknown", AccessKeySecret: "x"}
	wrongToken := stsCred
	wrongToken.SecurityToken = "stolen-token"
	noToken := stsCred
	noToken.SecurityToken = ""
	strayToken := emulator.DefaultCredential
	strayToken.SecurityToken = "unexpected"

	tests := []struct {
		name   string
		cred   emulator.Credential
		code   string // "" means accepted
		status int
	}{
		{"access key", emulator.DefaultCredential, "", 200},
		{"sts credential with its token", stsCred, "", 200},
		{"wrong secret", wrongSecret, "SignatureDoesNotMatch", 400},
		{"unknown access key", unknown, "InvalidAccessKeyId.NotFound", 404},
		{"sts key with another token", wrongToken, "InvalidSecurityToken.Mismatch", 400},
		{"sts key without token", noToken, "InvalidSecurityToken.Mismatch", 400},
		{"token on a plain access key", strayToken, "InvalidSecurityToken.Mismatch", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetCalls()
			_, saeErr := describe(srv, saeClient(t, tc.cred), nsProd, id)
			_, updErr := update(srv, saeClient(t, tc.cred), nsProd, id, wrapped(dockerData("u", "p")))
			_, crErr := getToken(srv, crClient(t, tc.cred), "cri-test")
			_, epErr := listEndpoints(srv, crClient(t, tc.cred), "cri-test")
			for i, err := range []error{saeErr, updErr, crErr, epErr} {
				if tc.code == "" {
					if err != nil {
						t.Fatalf("call %d refused: %v", i, err)
					}
					continue
				}
				serverError(t, err, tc.code, tc.status)
			}
			for _, c := range srv.Calls() {
				if c.AccessKeyID != tc.cred.AccessKeyID || c.SecurityToken != tc.cred.SecurityToken {
					t.Errorf("%s recorded ak %q token %q", c.Action, c.AccessKeyID, c.SecurityToken)
				}
				if c.Status != tc.status || c.Code != tc.code {
					t.Errorf("%s recorded %d %q", c.Action, c.Status, c.Code)
				}
				if _, ok := c.Query["Signature"]; ok {
					t.Errorf("%s: the Signature parameter was recorded", c.Action)
				}
			}
		})
	}
	if sec, _ := srv.Secret(nsProd, id); sec.Data[".dockerconfigjson"] != dockerData("u", "p")[".dockerconfigjson"] {
		t.Fatal("accepted updates were not stored")
	}
}

// TestTampering changes signed parts of real SDK requests on the wire: the
// verifier must cover the query, the x-acs-* headers and RPC parameters.
func TestTampering(t *testing.T) {
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	srv.AddInstance(emulator.Instance{ID: "cri-test"})
	srv.AddInstance(emulator.Instance{ID: "cri-other"})
	before, _ := srv.Secret(nsProd, id)

	tests := []struct {
		name   string
		tamper func(*http.Request)
		crCall bool
		code   string
	}{
		{"untouched ROA", func(*http.Request) {}, false, ""},
		{"ROA query value", func(r *http.Request) { setQuery(r, "SecretData", wrapped(map[string]string{"a": "b"})) }, false, "SignatureDoesNotMatch"},
		{"ROA added query parameter", func(r *http.Request) { setQuery(r, "Extra", "1") }, false, "SignatureDoesNotMatch"},
		{"ROA x-acs header", func(r *http.Request) { r.Header.Set("x-acs-signature-version", "2.0") }, false, "SignatureDoesNotMatch"},
		{"ROA Date", func(r *http.Request) { r.Header.Set("Date", "Thu, 01 Jan 1970 00:00:00 GMT") }, false, "SignatureDoesNotMatch"},
		{"ROA method", func(r *http.Request) { r.Method = http.MethodPost }, false, "SignatureDoesNotMatch"},
		{"ROA security token", func(r *http.Request) { r.Header.Set("x-acs-security-token", "other") }, false, "SignatureDoesNotMatch"},
		{"ROA no Authorization", func(r *http.Request) { r.Header.Del("Authorization") }, false, "MissingAuthorization"},
		{"untouched RPC", func(*http.Request) {}, true, ""},
		{"RPC InstanceId", func(r *http.Request) { setQuery(r, "InstanceId", "cri-other") }, true, "SignatureDoesNotMatch"},
		{"RPC Timestamp", func(r *http.Request) { setQuery(r, "Timestamp", "2020-01-01T00:00:00Z") }, true, "SignatureDoesNotMatch"},
		{"RPC no Signature", func(r *http.Request) { setQuery(r, "Signature", "") }, true, "MissingSignature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			tr := transportFunc(func(r *http.Request) (*http.Response, error) {
				tc.tamper(r)
				return http.DefaultTransport.RoundTrip(r)
			})
			if tc.crCall {
				c := crClient(t, stsCred)
				c.SetTransport(tr)
				_, err = getToken(srv, c, "cri-test")
			} else {
				c := saeClient(t, stsCred)
				c.SetTransport(tr)
				_, err = update(srv, c, nsProd, id, wrapped(before.Data))
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("untampered request refused: %v", err)
				}
				return
			}
			serverError(t, err, tc.code, 400)
			if strings.Contains(err.Error(), "SecretData") {
				t.Fatal("the error echoes the request's parameters")
			}
		})
	}
	if n := len(srv.Tokens()); n != 1 {
		t.Fatalf("want 1 token minted, got %d", n)
	}
}

// TestRPCNonceReplay sends the same signed RPC request twice.
func TestRPCNonceReplay(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddInstance(emulator.Instance{ID: "cri-test"})
	var saved *http.Request
	c := crClient(t, emulator.DefaultCredential)
	c.SetTransport(transportFunc(func(r *http.Request) (*http.Response, error) {
		saved = r.Clone(r.Context())
		return http.DefaultTransport.RoundTrip(r)
	}))
	if _, err := getToken(srv, c, "cri-test"); err != nil {
		t.Fatal(err)
	}
	replay, _ := http.NewRequest(saved.Method, saved.URL.String(), strings.NewReader(""))
	replay.Header = saved.Header.Clone()
	resp, err := http.DefaultClient.Do(replay)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("replay answered %d", resp.StatusCode)
	}
	if calls := srv.Calls(); calls[1].Code != "SignatureNonceUsed" {
		t.Fatalf("replay code %q", calls[1].Code)
	}
}

func TestCredentialsAddedLater(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	c := saeClient(t, stsCred)
	_, err := describe(srv, c, nsProd, id)
	serverError(t, err, "InvalidAccessKeyId.NotFound", 404)
	srv.AddCredential(stsCred)
	if _, err := describe(srv, c, nsProd, id); err != nil {
		t.Fatal(err)
	}
	srv.RemoveCredential(stsCred.AccessKeyID)
	_, err = describe(srv, c, nsProd, id)
	serverError(t, err, "InvalidAccessKeyId.NotFound", 404)
}

func setQuery(r *http.Request, k, v string) {
	q := r.URL.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	r.URL.RawQuery = q.Encode()
}
