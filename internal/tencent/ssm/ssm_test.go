package ssm

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

const (
	region  = "ap-guangzhou"
	doc     = `{"auths":{"ccr.ccs.tencentyun.com":{"username":"100012345678","password":"ssm-stored-password","auth":"MTAwMDEyMzQ1Njc4OnNzbS1zdG9yZWQtcGFzc3dvcmQ="}}}`
	written = `{"auths":{"ccr.ccs.tencentyun.com":{"username":"cr_temp_user","password":"ssm-written-password","auth":"Y3JfdGVtcF91c2VyOnNzbS13cml0dGVuLXBhc3N3b3Jk"}}}`
)

var (
	key   = emulator.TencentCredential{SecretID: "AKIDssmTestKey", SecretKey: "ssm-test-secret-key-value"}
	temp  = emulator.TencentCredential{SecretID: "AKIDssmTempKey", SecretKey: "ssm-temp-secret-key-value", Token: "ssm-session-token-value"}
	never = []string{key.SecretKey, temp.SecretKey, temp.Token, "ssm-stored-password", "ssm-written-password", "not-json-but-secret"}
)

// cloud is an emulator holding SSM secrets in ap-guangzhou.
func cloud(t *testing.T) *emulator.Server {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	emu.AddTencentCredential(key)
	emu.AddTencentCredential(temp)
	for _, s := range []struct {
		name, version, value string
		binary               bool
	}{
		{"acr-pull", "current", doc, false},
		{"acr-pull", "v1", `{"auths":{}}`, false},
		{"binary", "current", "\x00\x01binary", true},
		{"not-json", "current", "not-json-but-secret", false},
		{"array", "current", `[{"auths":{}}]`, false},
		{"empty", "current", "", false},
	} {
		if err := emu.CreateSSMSecret(region, s.name, s.version, s.value, s.binary); err != nil {
			t.Fatal(err)
		}
	}
	return emu
}

// open opens the store as the engine does, from an environment.
func open(t *testing.T, vars map[string]string) (*Store, error) {
	t.Helper()
	st, err := Kind{}.Open(port.Env{Getenv: func(k string) string { return vars[k] }, APITimeout: time.Second})
	if err != nil {
		return nil, err
	}
	return st.(*Store), nil
}

func env(emu *emulator.Server, c emulator.TencentCredential) map[string]string {
	return map[string]string{EnvEndpoint: emu.URL(), EnvSecretID: c.SecretID, EnvSecretKey: c.SecretKey, EnvSessionToken: c.Token}
}

// clean fails when an error's text or server message holds a key or a value.
func clean(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error()}
	var ae port.APIError
	if errors.As(err, &ae) {
		texts = append(texts, ae.ServerMessage())
	}
	for _, text := range texts {
		for _, s := range never {
			if strings.Contains(text, s) {
				t.Errorf("an error text holds a key or a secret value (#%d of the list)", len(s))
			}
		}
		if strings.Contains(text, "http://") {
			t.Errorf("an error text holds the request's URL: %s", text)
		}
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		err  string
	}{
		{"keys", map[string]string{EnvSecretID: "AKIDx", EnvSecretKey: "ssm-test-secret-key-value"}, ""},
		{"no id", map[string]string{EnvSecretKey: "ssm-test-secret-key-value"}, EnvSecretID},
		{"no key", map[string]string{EnvSecretID: "AKIDx"}, EnvSecretKey},
		{"plain http elsewhere", map[string]string{EnvSecretID: "AKIDx", EnvSecretKey: "k", EnvEndpoint: "http://ssm.tencentcloudapi.com"}, "loopback addresses only"},
		{"path", map[string]string{EnvSecretID: "AKIDx", EnvSecretKey: "k", EnvEndpoint: "https://ssm.tencentcloudapi.com/v3"}, "without path"},
		{"loopback http", map[string]string{EnvSecretID: "AKIDx", EnvSecretKey: "k", EnvEndpoint: "http://127.0.0.1:18080"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := open(t, tc.vars)
			clean(t, err)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Open: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Open: error %v, want one containing %q", err, tc.err)
			case tc.err == "" && strings.Join(st.Sensitive(), ",") != tc.vars[EnvSecretKey]:
				t.Errorf("Sensitive() does not list the secret key alone")
			}
		})
	}
	st, err := open(t, map[string]string{EnvSecretID: temp.SecretID, EnvSecretKey: temp.SecretKey, EnvSessionToken: temp.Token})
	if err != nil || len(st.Sensitive()) != 2 || st.Sensitive()[0] != temp.SecretKey || st.Sensitive()[1] != temp.Token {
		t.Errorf("Sensitive() does not list the secret key and the session token (err %v)", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		ref  Ref
		want string
	}{
		{Ref{Region: region, SecretName: "acr-pull", VersionID: "current"}, ""},
		{Ref{SecretName: "acr-pull", VersionID: "current"}, "region is required"},
		{Ref{Region: "Guangzhou", SecretName: "acr-pull", VersionID: "current"}, "not a region id"},
		{Ref{Region: region, VersionID: "current"}, "secretName is required"},
		{Ref{Region: region, SecretName: "acr pull", VersionID: "current"}, "secretName must be printable"},
		{Ref{Region: region, SecretName: "acr-pull"}, "versionId is required"},
		{Ref{Region: region, SecretName: "acr-pull", VersionID: "v 1"}, "versionId must be printable"},
	} {
		err := tc.ref.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.ref, err, tc.want)
		}
	}
}

// The store through the SDK against the emulator: what it reads, the code
// each failure has, and how the engine would retry it.
func TestStore(t *testing.T) {
	type want struct {
		code                 port.Code // the report code, "" for an API error
		apiCode              string    // the API error's code
		status               int
		throttled, transient bool
		text                 string // in the error's text
	}
	for _, tc := range []struct {
		name    string
		ref     Ref
		cred    emulator.TencentCredential
		fault   emulator.Fault
		want    want
		version string // read: the version; "" expects an error
	}{
		{name: "read", ref: Ref{region, "acr-pull", "current"}, cred: key, version: "current"},
		{name: "another version", ref: Ref{region, "acr-pull", "v1"}, cred: key, version: "v1"},
		{name: "temporary key", ref: Ref{region, "acr-pull", "current"}, cred: temp, version: "current"},
		{name: "binary", ref: Ref{region, "binary", "current"}, cred: key, want: want{code: port.UnsupportedSecretType, text: "SecretBinary"}},
		{name: "not JSON", ref: Ref{region, "not-json", "current"}, cred: key, want: want{code: port.CorruptSecretData, text: "not JSON"}},
		{name: "not an object", ref: Ref{region, "array", "current"}, cred: key, want: want{code: port.CorruptSecretData, text: "not an object"}},
		{name: "empty", ref: Ref{region, "empty", "current"}, cred: key, want: want{code: port.CorruptSecretData, text: "empty"}},
		{name: "missing secret", ref: Ref{region, "nope", "current"}, cred: key, want: want{code: port.SecretNotFound, text: "ResourceNotFound"}},
		{name: "missing version", ref: Ref{region, "acr-pull", "v9"}, cred: key, want: want{code: port.SecretNotFound, text: `version "v9"`}},
		{name: "other region", ref: Ref{"ap-shanghai", "acr-pull", "current"}, cred: key, want: want{code: port.SecretNotFound}},
		{name: "throttled", ref: Ref{region, "acr-pull", "current"}, cred: key, fault: emulator.Fault{Throttle: 1},
			want: want{apiCode: "RequestLimitExceeded", status: 200, throttled: true}},
		{name: "internal error", ref: Ref{region, "acr-pull", "current"}, cred: key, fault: emulator.Fault{Fail: 1},
			want: want{apiCode: "InternalError", status: 200, transient: true}},
		{name: "gateway 503", ref: Ref{region, "acr-pull", "current"}, cred: key, fault: emulator.Fault{Fail: 1, FailStatus: 503},
			want: want{apiCode: "HTTP503", status: 503, transient: true}},
		{name: "no answer", ref: Ref{region, "acr-pull", "current"}, cred: key, fault: emulator.Fault{Hang: true},
			want: want{transient: true, text: "timed out"}},
		{name: "wrong key", ref: Ref{region, "acr-pull", "current"}, cred: emulator.TencentCredential{SecretID: key.SecretID, SecretKey: "ssm-wrong-secret-key"},
			want: want{apiCode: "AuthFailure.SignatureFailure", status: 200}},
		{name: "unknown id", ref: Ref{region, "acr-pull", "current"}, cred: emulator.TencentCredential{SecretID: "AKIDunknown", SecretKey: key.SecretKey},
			want: want{apiCode: "AuthFailure.SecretIdNotFound", status: 200}},
		{name: "token missing", ref: Ref{region, "acr-pull", "current"}, cred: emulator.TencentCredential{SecretID: temp.SecretID, SecretKey: temp.SecretKey},
			want: want{apiCode: "AuthFailure.TokenFailure", status: 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := cloud(t)
			emu.SetFault("ssm", tc.fault)
			st, err := open(t, env(emu, tc.cred))
			if err != nil {
				t.Fatal(err)
			}
			snap, err := st.Read(context.Background(), port.Credentials{}, &tc.ref)
			var sec port.Secret
			if err == nil {
				sec, err = snap.Find(&tc.ref)
			}
			clean(t, err)
			if tc.version != "" {
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				want, _ := emu.SSMSecret(tc.ref.Region, tc.ref.SecretName, tc.ref.VersionID)
				if string(sec.Config) != want || sec.Version != tc.version || !reflect.DeepEqual(sec.Where, tc.ref.Where()) {
					t.Errorf("read version %q at %+v, want the stored value of %q at %+v", sec.Version, sec.Where, tc.version, tc.ref.Where())
				}
				return
			}
			if err == nil {
				t.Fatal("read succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want.text) {
				t.Errorf("error %q does not say %q", err, tc.want.text)
			}
			if port.CodeOf(err) != tc.want.code {
				t.Errorf("code %q, want %q (%v)", port.CodeOf(err), tc.want.code, err)
			}
			if tc.want.code != "" {
				if !reflect.DeepEqual(sec.Where, tc.ref.Where()) && tc.want.code != port.SecretNotFound {
					t.Errorf("the failing secret is not named: %+v", sec.Where)
				}
				return
			}
			var ae port.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%T is not an APIError", err)
			}
			if ae.ErrorCode() != tc.want.apiCode || ae.HTTPStatus() != tc.want.status || ae.Throttled() != tc.want.throttled || ae.Transient() != tc.want.transient {
				t.Errorf("code %q status %d throttled %v transient %v, want %+v", ae.ErrorCode(), ae.HTTPStatus(), ae.Throttled(), ae.Transient(), tc.want)
			}
			if ae.ErrorCode() != "" && !strings.HasPrefix(ae.ErrorCode(), "HTTP") && ae.ServerMessage() == "" {
				t.Errorf("the server's message is not kept for ServerMessage()")
			}
			if msg := ae.ServerMessage(); msg != "" && strings.Contains(err.Error(), msg) {
				t.Errorf("Error() carries the server's message")
			}
			calls := emu.Calls()
			if len(calls) != 1 || calls[0].Product != "ssm" || calls[0].Action != "GetSecretValue" || calls[0].Code != tc.want.apiCode && tc.want.status != 503 {
				t.Errorf("the emulator saw %d calls, want 1 GetSecretValue answered %q", len(calls), tc.want.apiCode)
			}
		})
	}
}

// A write overwrites the named version and nothing else; the read-back
// shows it; a write the signature check refuses changes nothing.
func TestWriteAndReadBack(t *testing.T) {
	t.Parallel()
	emu := cloud(t)
	st, err := open(t, env(emu, key))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := &Ref{region, "acr-pull", "current"}
	snap, err := st.Read(ctx, port.Credentials{}, ref)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := snap.Find(ref)
	if err != nil {
		t.Fatal(err)
	}
	version, err := st.Write(ctx, port.Credentials{}, sec, []byte(written))
	if err != nil || version != "current" {
		t.Fatalf("write: version %q, %v; want current", version, err)
	}
	if v, _ := emu.SSMSecret(region, "acr-pull", "current"); v != written {
		t.Errorf("the version does not hold what was written")
	}
	if v, _ := emu.SSMSecret(region, "acr-pull", "v1"); v != `{"auths":{}}` {
		t.Errorf("another version changed")
	}
	got, err := st.ReadBack(ctx, port.Credentials{}, sec, version)
	if err != nil || string(got.Config) != written || got.Version != "current" {
		t.Errorf("read back version %q, %v; want the written value at current", got.Version, err)
	}
	last := emu.Calls()[len(emu.Calls())-2]
	if last.Action != "UpdateSecret" || last.Query.Get("SecretName") != "acr-pull" || last.Query.Get("VersionId") != "current" || last.Query.Get("Region") != region {
		t.Errorf("UpdateSecret named %q %q in %q", last.Query.Get("SecretName"), last.Query.Get("VersionId"), last.Query.Get("Region"))
	}

	// The same write signed with a wrong key is refused by the signature check.
	bad, err := open(t, env(emu, emulator.TencentCredential{SecretID: key.SecretID, SecretKey: "ssm-wrong-secret-key"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Write(ctx, port.Credentials{}, sec, []byte(doc))
	clean(t, err)
	var ae port.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AuthFailure.SignatureFailure" || ae.Transient() || ae.Throttled() {
		t.Errorf("a write with a wrong key: %v, want AuthFailure.SignatureFailure, not retried", err)
	}
	if v, _ := emu.SSMSecret(region, "acr-pull", "current"); v != written {
		t.Errorf("a refused write changed the secret")
	}

	// A version deleted meanwhile: the write fails SecretNotFound.
	gone := sec
	gone.Handle = handle{region: region, name: "acr-pull", version: "deleted"}
	if _, err := st.Write(ctx, port.Credentials{}, gone, []byte(written)); port.CodeOf(err) != port.SecretNotFound {
		t.Errorf("a write of a missing version: %v, want SecretNotFound", err)
	}
}

// Transport failures and cancellations are transient, and worded without
// the URL; the invocation's context ends a call.
func TestTransportErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	st, err := open(t, map[string]string{EnvEndpoint: "http://" + addr, EnvSecretID: key.SecretID, EnvSecretKey: key.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ref := &Ref{region, "acr-pull", "current"}
	_, err = st.Read(context.Background(), port.Credentials{}, ref)
	clean(t, err)
	var ae port.APIError
	if !errors.As(err, &ae) || !ae.Transient() || ae.HTTPStatus() != 0 || ae.ErrorCode() != "" || !strings.Contains(err.Error(), "transport error") {
		t.Errorf("refused connection: %v, want a transient transport error without status or code", err)
	}

	emu := cloud(t)
	emu.SetFault("ssm:GetSecretValue", emulator.Fault{Hang: true})
	st, err = open(t, env(emu, key))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = st.Read(ctx, port.Credentials{}, ref)
	clean(t, err)
	if took := time.Since(start); took > 900*time.Millisecond || err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("a hung call with the invocation's deadline in 100ms: %v after %v, want cancelled promptly", err, took)
	}
}

// An answer without SecretString is corrupt, never an empty value; a docker
// config over SSM's 4096 bytes is ValueTooLarge before any request.
func TestAbsentValueAndSizeLimit(t *testing.T) {
	t.Parallel()
	emu := cloud(t)
	st, err := open(t, env(emu, key))
	if err != nil {
		t.Fatal(err)
	}
	r := &Ref{region, "acr-pull", "current"}
	emu.SetAnswerEdit("ssm", "GetSecretValue", func(ans map[string]any) { delete(ans["Response"].(map[string]any), "SecretString") })
	snap, err := st.Read(context.Background(), port.Credentials{}, r)
	if err == nil {
		_, err = snap.Find(r)
	}
	if port.CodeOf(err) != port.CorruptSecretData || !strings.Contains(err.Error(), "carries no SecretString") {
		t.Errorf("got %v; want CorruptSecretData saying the answer carries no SecretString", err)
	}
	emu.SetAnswerEdit("ssm", "GetSecretValue", nil)

	sec := port.Secret{Where: r.Where(), Handle: handle{region: region, name: "acr-pull", version: "current"}}
	emu.ResetCalls()
	big := []byte(`{"x":"` + strings.Repeat("a", MaxValue-7) + `"}`)
	err = st.CheckSize(sec, big)
	if port.CodeOf(err) != port.ValueTooLarge || !strings.Contains(err.Error(), "4097 bytes") || !strings.Contains(err.Error(), "at most 4096 bytes") {
		t.Errorf("CheckSize: %v; want ValueTooLarge giving the size and the limit", err)
	}
	if _, err := st.Write(context.Background(), port.Credentials{}, sec, big); port.CodeOf(err) != port.ValueTooLarge {
		t.Errorf("Write: %v; want ValueTooLarge", err)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Errorf("%d calls sent for a value over the limit", n)
	}
	if err := st.CheckSize(sec, big[1:]); err != nil {
		t.Errorf("a value of exactly the limit: %v", err)
	}
}
