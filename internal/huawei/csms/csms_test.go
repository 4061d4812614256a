package csms_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/huawei/csms"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

const (
	project = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
	region  = "cn-north-4"
	// cfg holds a login that must never be printed.
	cfg     = `{"auths":{"docker.io":{"username":"team","password":"hub-password-not-real","auth":"dGVhbTpodWItcGFzc3dvcmQtbm90LXJlYWw="}}}`
	written = `{"auths":{"docker.io":{"username":"team","password":"hub-password-not-real","auth":"dGVhbTpodWItcGFzc3dvcmQtbm90LXJlYWw="},"r.example.com":{"username":"u","password":"new-token-not-real","auth":"dTpuZXctdG9rZW4tbm90LXJlYWw="}}}`
)

var (
	key     = emulator.HuaweiCredential{AK: "HWEMULATORAK0001", SK: "huawei-sk-not-real-0001"}
	tempKey = emulator.HuaweiCredential{AK: "HWEMULATORAK0002", SK: "huawei-sk-not-real-0002", SecurityToken: "huawei-token-not-real"}
	// secrets must appear in no error text.
	secrets = []string{key.SK, tempKey.SK, tempKey.SecurityToken, "hub-password-not-real", "new-token-not-real"}
)

func start(t *testing.T) *emulator.Server {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	emu.AddHuaweiCredential(key)
	emu.AddHuaweiCredential(tempKey)
	for name, v := range map[string]string{"acr-pull": cfg, "not-json": "hunter2-plain-text", "array": `[1,2]`, "empty": ""} {
		if err := emu.CreateCSMSSecret(project, name, v, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := emu.CreateCSMSSecret(project, "binary", cfg, true); err != nil {
		t.Fatal(err)
	}
	return emu
}

// open opens the store as the function does, from environment variables.
func open(t *testing.T, emu *emulator.Server, env map[string]string) (port.Store, error) {
	t.Helper()
	vars := map[string]string{csms.EnvEndpoint: emu.URL(), csms.EnvAK: key.AK, csms.EnvSK: key.SK}
	for k, v := range env {
		vars[k] = v
	}
	return csms.Kind{}.Open(port.Env{Getenv: func(k string) string { return vars[k] }, APITimeout: time.Second})
}

func ref(name string) *csms.Ref {
	return &csms.Ref{Region: region, ProjectID: project, SecretName: name}
}

// noSecrets fails when an error's text holds a key or a value.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for i, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error text holds secret #%d", i)
		}
	}
}

func read(t *testing.T, st port.Store, name string) (port.Secret, error) {
	t.Helper()
	snap, err := st.Read(context.Background(), port.Credentials{}, ref(name))
	if err != nil {
		return port.Secret{}, err
	}
	return snap.Find(ref(name))
}

func TestReadWriteReadBack(t *testing.T) {
	emu := start(t)
	st, err := open(t, emu, nil)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := read(t, st, "acr-pull")
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(sec.Config) != cfg || sec.Version != "v1" {
		t.Errorf("read: version %q, config as stored: %v; want v1 and the stored value", sec.Version, string(sec.Config) == cfg)
	}
	if want := (port.Where{Store: "csms", Region: region, Fields: []port.Field{port.String("secretName", "acr-pull")}}); !reflect.DeepEqual(sec.Where, want) {
		t.Errorf("read: where %+v, want %+v", sec.Where, want)
	}
	ver, err := st.Write(context.Background(), port.Credentials{}, sec, []byte(written))
	noSecrets(t, err)
	if err != nil || ver != "v2" {
		t.Fatalf("write: version %q, %v; want v2", ver, err)
	}
	if value, id, _ := emu.CSMSSecret(project, "acr-pull"); value != written || id != "v2" {
		t.Errorf("stored: latest is %s, holding the written value: %v", id, value == written)
	}
	if n := emu.CSMSVersions(project, "acr-pull"); n != 2 {
		t.Errorf("%d versions, want 2: a write adds a version", n)
	}
	got, err := st.ReadBack(context.Background(), port.Credentials{}, sec, ver)
	if err != nil || got.Version != "v2" || string(got.Config) != written {
		t.Errorf("read back: version %q, holds the write: %v, %v", got.Version, string(got.Config) == written, err)
	}
	var actions []string
	for _, c := range emu.Calls() {
		if c.Product != "csms" || c.AccessKeyID != key.AK || c.Status != 200 {
			t.Errorf("call %s %s by %s -> %d, want csms by %s -> 200", c.Product, c.Action, c.AccessKeyID, c.Status, key.AK)
		}
		actions = append(actions, c.Action)
	}
	if got := strings.Join(actions, ","); got != "ShowSecretVersion,CreateSecretVersion,ShowSecretVersion" {
		t.Errorf("calls %s", got)
	}
}

// TestFailures: each failure maps to its report code or API error, and no
// error text holds a key or a value.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		secret    string
		env       map[string]string
		fault     emulator.Fault
		code      port.Code // the report code, or "" for an API error
		status    int
		throttled bool
		transient bool
	}{
		{name: "binary value", secret: "binary", code: port.UnsupportedSecretType},
		{name: "not JSON", secret: "not-json", code: port.CorruptSecretData},
		{name: "not an object", secret: "array", code: port.CorruptSecretData},
		{name: "empty value", secret: "empty", code: port.CorruptSecretData},
		{name: "missing secret", secret: "nope", code: port.SecretNotFound},
		{name: "throttled", secret: "acr-pull", fault: emulator.Fault{Throttle: 1}, status: 429, throttled: true},
		{name: "server error", secret: "acr-pull", fault: emulator.Fault{Fail: 1}, status: 500, transient: true},
		{name: "unavailable", secret: "acr-pull", fault: emulator.Fault{Fail: 1, FailStatus: 503}, status: 503, transient: true},
		{name: "wrong SK", secret: "acr-pull", env: map[string]string{csms.EnvSK: "huawei-sk-not-real-0002"}, status: 401},
		{name: "unknown AK", secret: "acr-pull", env: map[string]string{csms.EnvAK: "HWNOSUCHKEY"}, status: 401},
		{name: "temporary key without its token", secret: "acr-pull", env: map[string]string{csms.EnvAK: tempKey.AK, csms.EnvSK: tempKey.SK}, status: 401},
		{name: "token with a permanent key", secret: "acr-pull", env: map[string]string{csms.EnvSecurityToken: tempKey.SecurityToken}, status: 401},
		{name: "no answer", secret: "acr-pull", fault: emulator.Fault{Hang: true}, transient: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu := start(t)
			emu.SetFault("csms", tc.fault)
			st, err := open(t, emu, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			_, err = read(t, st, tc.secret)
			noSecrets(t, err)
			if err == nil {
				t.Fatal("read succeeded")
			}
			if tc.code != "" {
				if got := port.CodeOf(err); got != tc.code {
					t.Errorf("code %q (%v), want %s", got, err, tc.code)
				}
				return
			}
			var ae port.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%v is not an APIError", err)
			}
			if ae.HTTPStatus() != tc.status || ae.Throttled() != tc.throttled || ae.Transient() != tc.transient {
				t.Errorf("%v: status %d throttled %v transient %v; want %d %v %v", err, ae.HTTPStatus(), ae.Throttled(), ae.Transient(),
					tc.status, tc.throttled, tc.transient)
			}
			if tc.status != 0 && (ae.ServerMessage() == "" || strings.Contains(err.Error(), ae.ServerMessage())) {
				t.Errorf("the server's message belongs in ServerMessage only: %q", err)
			}
			if tc.status == 0 && (strings.Contains(err.Error(), emu.URL()) || strings.Contains(err.Error(), "/v1/")) {
				t.Errorf("a transport error names the URL: %v", err)
			}
		})
	}
}

// A signed request with the temporary key and its token is accepted; the
// store lists the SK and the token for the redactor.
func TestSecurityToken(t *testing.T) {
	emu := start(t)
	st, err := open(t, emu, map[string]string{csms.EnvAK: tempKey.AK, csms.EnvSK: tempKey.SK, csms.EnvSecurityToken: tempKey.SecurityToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, st, "acr-pull"); err != nil {
		t.Fatalf("read with a temporary key: %v", err)
	}
	if c := emu.Calls()[0]; c.SecurityToken != tempKey.SecurityToken {
		t.Error("the security token was not sent")
	}
	got := st.(interface{ Sensitive() []string }).Sensitive()
	if strings.Join(got, ",") != tempKey.SK+","+tempKey.SecurityToken {
		t.Error("Sensitive() does not list exactly the SK and the token")
	}
}

func TestWriteMissingSecret(t *testing.T) {
	emu := start(t)
	st, err := open(t, emu, nil)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := read(t, st, "acr-pull")
	if err != nil {
		t.Fatal(err)
	}
	sec.Handle = ref("gone")
	_, err = st.Write(context.Background(), port.Credentials{}, sec, []byte(written))
	noSecrets(t, err)
	if port.CodeOf(err) != port.SecretNotFound {
		t.Errorf("write to a missing secret: %v, want SecretNotFound", err)
	}
}

// A secret whose handle is not a CSMS secret (another store's read) is an
// error for Write and ReadBack, never a panic, and nothing is called.
func TestForeignHandle(t *testing.T) {
	emu := start(t)
	st, err := open(t, emu, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []any{nil, "acr-pull", csms.Ref{Region: region, ProjectID: project, SecretName: "acr-pull"}} {
		sec := port.Secret{Where: ref("acr-pull").Where(), Handle: h}
		if _, err := st.Write(context.Background(), port.Credentials{}, sec, []byte(written)); err == nil || !strings.Contains(err.Error(), "not read from CSMS") {
			t.Errorf("write, handle %T: %v, want an error: the secret was not read from CSMS", h, err)
		}
		if _, err := st.ReadBack(context.Background(), port.Credentials{}, sec, "v1"); err == nil || !strings.Contains(err.Error(), "not read from CSMS") {
			t.Errorf("read back, handle %T: %v, want an error: the secret was not read from CSMS", h, err)
		}
	}
	if n := len(emu.Calls()); n != 0 {
		t.Errorf("%d calls for secrets not read from CSMS, want none", n)
	}
}

// The invocation's context reaches the socket: a cancelled call returns at
// once, not after the API timeout.
func TestCancel(t *testing.T) {
	emu := start(t)
	emu.SetFault("ShowSecretVersion", emulator.Fault{Hang: true})
	st, err := csms.Kind{}.Open(port.Env{Getenv: func(k string) string {
		return map[string]string{csms.EnvEndpoint: emu.URL(), csms.EnvAK: key.AK, csms.EnvSK: key.SK}[k]
	}, APITimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = st.Read(ctx, port.Credentials{}, ref("acr-pull"))
	if err == nil || time.Since(began) > 5*time.Second {
		t.Errorf("a cancelled read returned %v after %v", err, time.Since(began))
	}
}

func TestOpen(t *testing.T) {
	emu := start(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // in the error; "" for success
	}{
		{"no AK", map[string]string{csms.EnvAK: ""}, csms.EnvAK},
		{"no SK", map[string]string{csms.EnvSK: ""}, csms.EnvSK},
		{"plain http elsewhere", map[string]string{csms.EnvEndpoint: "http://kms.cn-north-4.myhuaweicloud.com"}, "loopback"},
		{"a path", map[string]string{csms.EnvEndpoint: "https://kms.example.com/v1"}, "without path"},
		{"ftp", map[string]string{csms.EnvEndpoint: "ftp://127.0.0.1"}, "scheme"},
		{"a host", map[string]string{csms.EnvEndpoint: "kms-vpc.cn-north-4.myhuaweicloud.com"}, ""},
		{"the regional default", map[string]string{csms.EnvEndpoint: ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := open(t, emu, tc.env)
			noSecrets(t, err)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestRefValidate(t *testing.T) {
	for _, tc := range []struct {
		ref  csms.Ref
		want string // in the error; "" when valid
	}{
		{csms.Ref{Region: region, ProjectID: project, SecretName: "acr-pull"}, ""},
		{csms.Ref{ProjectID: project, SecretName: "acr-pull"}, "region is required"},
		{csms.Ref{Region: "North 4", ProjectID: project, SecretName: "acr-pull"}, "region"},
		{csms.Ref{Region: region, SecretName: "acr-pull"}, "projectId is required"},
		{csms.Ref{Region: region, ProjectID: "0b1c/../x", SecretName: "acr-pull"}, "projectId"},
		{csms.Ref{Region: region, ProjectID: project}, "secretName is required"},
		{csms.Ref{Region: region, ProjectID: project, SecretName: "a/b"}, "secretName"},
		{csms.Ref{Region: region, ProjectID: project, SecretName: "acr pull"}, "secretName"},
	} {
		err := tc.ref.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.ref, err, tc.want)
		}
	}
	r := ref("acr-pull")
	if r.Group() != r.Key() || r.Key() != region+"/"+project+"/acr-pull" {
		t.Errorf("key %q group %q", r.Key(), r.Group())
	}
}

// An answer without secret_string (and without secret_binary) is corrupt,
// never an empty value; a docker config over CSMS's 32768 bytes is
// ValueTooLarge before any request.
func TestAbsentValueAndSizeLimit(t *testing.T) {
	emu := start(t)
	st, err := open(t, emu, nil)
	if err != nil {
		t.Fatal(err)
	}
	emu.SetAnswerEdit("csms", "ShowSecretVersion", func(ans map[string]any) { delete(ans["version"].(map[string]any), "secret_string") })
	if _, err := read(t, st, "acr-pull"); port.CodeOf(err) != port.CorruptSecretData || !strings.Contains(err.Error(), "carries no secret_string") {
		t.Errorf("got %v; want CorruptSecretData saying the answer carries no secret_string", err)
	}
	emu.SetAnswerEdit("csms", "ShowSecretVersion", nil)

	sec, err := read(t, st, "acr-pull")
	if err != nil {
		t.Fatal(err)
	}
	emu.ResetCalls()
	big := []byte(`{"x":"` + strings.Repeat("a", csms.MaxValue-7) + `"}`)
	err = st.(port.SizeLimiter).CheckSize(sec, big)
	if port.CodeOf(err) != port.ValueTooLarge || !strings.Contains(err.Error(), "32769 bytes") || !strings.Contains(err.Error(), "at most 32768 bytes") {
		t.Errorf("CheckSize: %v; want ValueTooLarge giving the size and the limit", err)
	}
	if _, err := st.Write(context.Background(), port.Credentials{}, sec, big); port.CodeOf(err) != port.ValueTooLarge {
		t.Errorf("Write: %v; want ValueTooLarge", err)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Errorf("%d calls sent for a value over the limit", n)
	}
	if err := st.(port.SizeLimiter).CheckSize(sec, big[1:]); err != nil {
		t.Errorf("a value of exactly the limit: %v", err)
	}
}
