package acr

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

const minter = "acs:ram::1234567890123456:role/acr-token-minter"

// fnRole is the function's own STS credential: it expires in fifteen
// minutes, as a function role's session may when an invocation starts.
func fnRole() emulator.Credential {
	return emulator.Credential{AccessKeyID: "STS.fnRole", AccessKeySecret: "fn-role-secret-value", SecurityToken: "fn-role-token-value",
		Expires: time.Now().Add(15 * time.Minute)}
}

func caller(c emulator.Credential) port.Credentials {
	return port.Credentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}
}

// world is an emulator with an EE instance and the minting role, trusted by
// the function's role only.
func world(t *testing.T, fn emulator.Credential) *emulator.Server {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{fn, emulator.DefaultCredential}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	emu.AddInstance(emulator.Instance{ID: "cri-unit", RegionID: "cn-hangzhou"})
	emu.AddRole(minter, fn.AccessKeyID)
	return emu
}

// open opens a kind against the emulator, as the function does.
func open(t *testing.T, kind port.SourceKind, emu *emulator.Server, env ...string) port.Source {
	t.Helper()
	vars := map[string]string{EnvEndpoint: emu.URL(), EnvSTSEndpoint: emu.URL()}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	src, err := kind.Open(port.Env{Getenv: func(k string) string { return vars[k] }, APITimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func calls(emu *emulator.Server, permission string) []emulator.Call {
	var out []emulator.Call
	for _, c := range emu.Calls() {
		if c.Permission() == permission {
			out = append(out, c)
		}
	}
	return out
}

func TestPersonalTokenAndDomains(t *testing.T) {
	fn := fnRole()
	emu := world(t, fn)
	src := open(t, PersonalKind{}, emu)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  PersonalConfig
		want []port.Domain
	}{
		{"defaults", PersonalConfig{RegionID: "cn-shanghai"}, []port.Domain{
			{Host: "registry.cn-shanghai.aliyuncs.com"}, {Host: "registry-vpc.cn-shanghai.aliyuncs.com", Private: true}}},
		{"configured", PersonalConfig{RegionID: "cn-hangzhou", Domains: []string{"registry-vpc.cn-hangzhou.aliyuncs.com", "registry.example.com"}},
			[]port.Domain{{Host: "registry-vpc.cn-hangzhou.aliyuncs.com", Private: true}, {Host: "registry.example.com"}}},
		// An instance of its own (since 2024-09): its exclusive domains.
		{"crpi instance", PersonalConfig{RegionID: "cn-shanghai", InstanceID: "crpi-k4x9b2"}, []port.Domain{
			{Host: "crpi-k4x9b2.cn-shanghai.personal.cr.aliyuncs.com"}, {Host: "crpi-k4x9b2-vpc.cn-shanghai.personal.cr.aliyuncs.com", Private: true}}},
		{"crpi instance, configured", PersonalConfig{RegionID: "cn-shanghai", InstanceID: "crpi-k4x9b2", Domains: []string{"registry.example.com"}},
			[]port.Domain{{Host: "registry.example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doms, err := src.Domains(ctx, caller(fn), &tc.cfg)
			if err != nil || len(doms) != len(tc.want) {
				t.Fatalf("domains %v, %v", doms, err)
			}
			for i := range doms {
				if doms[i] != tc.want[i] {
					t.Errorf("domain %d: %+v, want %+v", i, doms[i], tc.want[i])
				}
			}
		})
	}

	emu.ResetCalls()
	// No API mints for one crpi- instance: GET /tokens, as without one.
	tok, err := src.Mint(ctx, caller(fn), &PersonalConfig{RegionID: "cn-hangzhou", InstanceID: "crpi-k4x9b2"})
	if err != nil {
		t.Fatal(err)
	}
	minted := emu.Tokens()
	if len(minted) != 1 || tok.Password != minted[0].Password || tok.Username != "cr_temp_user" || !tok.ExpiresAt.Equal(minted[0].ExpiresAt) {
		t.Fatalf("the token is not the one minted (%d minted)", len(minted))
	}
	// Signed with the function's credentials, so cut short to them.
	if d := time.Until(tok.ExpiresAt); d > 15*time.Minute || d < 14*time.Minute {
		t.Errorf("token lives %v, want the function credentials' 15m", d)
	}
	if c := calls(emu, "cr:GetAuthorizationToken"); len(c) != 1 || c[0].Path != "/tokens" || c[0].AccessKeyID != fn.AccessKeyID {
		t.Errorf("GetAuthorizationToken calls: %d", len(c))
	}
	if len(calls(emu, "sts:AssumeRole")) != 0 {
		t.Error("AssumeRole was called for a source without assumeRole")
	}
}

// With assumeRole, several mints (two kinds, concurrently) share one
// AssumeRole; the tokens are minted with the session and live about an
// hour although the function's credentials expire in fifteen minutes; the
// EE domains are still read with the function's credentials.
func TestAssumeRoleOnceForSeveralMints(t *testing.T) {
	fn := fnRole()
	emu := world(t, fn)
	ee := open(t, EEKind{}, emu, "FC_FUNCTION_NAME=secret rotator/prod")
	personal := open(t, PersonalKind{}, emu)
	ctx := context.Background()
	eeCfg := &EEConfig{InstanceID: "cri-unit", RegionID: "cn-hangzhou", AssumeRole: minter}
	pCfg := &PersonalConfig{RegionID: "cn-hangzhou", AssumeRole: minter}

	var wg sync.WaitGroup
	toks := make([]port.Token, 6)
	errs := make([]error, 6)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				toks[i], errs[i] = ee.Mint(ctx, caller(fn), eeCfg)
			} else {
				toks[i], errs[i] = personal.Mint(ctx, caller(fn), pCfg)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("mint %d: %v", i, err)
		}
		if d := time.Until(toks[i].ExpiresAt); d < 59*time.Minute || d > time.Hour {
			t.Errorf("mint %d: token lives %v, want about an hour", i, d)
		}
	}
	assumed := calls(emu, "sts:AssumeRole")
	if len(assumed) != 1 {
		t.Fatalf("AssumeRole called %d times, want once", len(assumed))
	}
	q := assumed[0].Query
	if assumed[0].AccessKeyID != fn.AccessKeyID || q.Get("RoleArn") != minter || q.Get("DurationSeconds") != "3600" || q.Get("RoleSessionName") != "secret-rotator-prod" {
		t.Errorf("AssumeRole by the function's key: %v; RoleArn %q, DurationSeconds %q, RoleSessionName %q",
			assumed[0].AccessKeyID == fn.AccessKeyID, q.Get("RoleArn"), q.Get("DurationSeconds"), q.Get("RoleSessionName"))
	}
	sess := emu.AssumedCredentials()[0]
	for _, tok := range emu.Tokens() {
		if tok.AccessKeyID != sess.AccessKeyID {
			t.Errorf("a token of %s was minted with %s, not the assumed session", tok.InstanceID, tok.AccessKeyID)
		}
	}
	if _, err := ee.Domains(ctx, caller(fn), eeCfg); err != nil {
		t.Fatal(err)
	}
	if c := calls(emu, "cr:ListInstanceEndpoint"); len(c) != 1 || c[0].AccessKeyID != fn.AccessKeyID {
		t.Error("ListInstanceEndpoint was not signed with the function's credentials")
	}
	// The engine's redactor learns the session's secrets from either source.
	for _, src := range []port.Source{ee, personal} {
		s := src.(interface{ Sensitive() []string }).Sensitive()
		if !contains(s, sess.AccessKeySecret) || !contains(s, sess.SecurityToken) {
			t.Errorf("%T.Sensitive lacks the assumed session", src)
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// A session with less than 55 minutes left is not reused: a token minted
// with it would not live its hour.
func TestAgedSessionIsReplaced(t *testing.T) {
	for _, tc := range []struct {
		left    time.Duration
		assumes int
	}{{56 * time.Minute, 1}, {54 * time.Minute, 2}} {
		t.Run(tc.left.String(), func(t *testing.T) {
			fn := fnRole()
			emu := world(t, fn) // a new endpoint: a new process-wide cache
			src := open(t, PersonalKind{}, emu)
			cfg := &PersonalConfig{RegionID: "cn-hangzhou", AssumeRole: minter}
			ctx := context.Background()
			if _, err := src.Mint(ctx, caller(fn), cfg); err != nil {
				t.Fatal(err)
			}
			rl := src.(*Personal).roles
			rl.mu.Lock()
			for _, s := range rl.sessions {
				s.expires = time.Now().Add(tc.left)
			}
			rl.mu.Unlock()
			if _, err := src.Mint(ctx, caller(fn), cfg); err != nil {
				t.Fatal(err)
			}
			if n := len(calls(emu, "sts:AssumeRole")); n != tc.assumes {
				t.Errorf("AssumeRole called %d times for two mints, want %d", n, tc.assumes)
			}
		})
	}
}

// An AssumeRole that fails fails the mint, with an error that names the
// call and the role but nothing secret, and mints nothing.
func TestAssumeRoleRefused(t *testing.T) {
	fn := fnRole()
	emu := world(t, fn)
	emu.AddRole("acs:ram::1234567890123456:role/other-team", "LTAIsomeoneElse")
	src := open(t, EEKind{}, emu)
	for _, tc := range []struct {
		role, code string
		status     int
	}{
		{"acs:ram::1234567890123456:role/other-team", "NoPermission", 403},
		{"acs:ram::1234567890123456:role/missing", "EntityNotExist.Role", 404},
	} {
		_, err := src.Mint(context.Background(), caller(fn), &EEConfig{InstanceID: "cri-unit", RegionID: "cn-hangzhou", AssumeRole: tc.role})
		var ce *port.CallError
		if !errors.As(err, &ce) || ce.Product != "sts" || ce.Action != "AssumeRole" || ce.Code != tc.code || ce.Status != tc.status {
			t.Fatalf("%s: error %v, want sts AssumeRole %s", tc.role, err, tc.code)
		}
		if !strings.Contains(err.Error(), tc.role) || strings.Contains(err.Error(), fn.AccessKeySecret) || strings.Contains(err.Error(), fn.SecurityToken) {
			t.Errorf("%s: error text %q", tc.role, err)
		}
	}
	if n := len(emu.Tokens()); n != 0 {
		t.Errorf("%d tokens minted", n)
	}
}

func TestValidateAssumeRole(t *testing.T) {
	for _, tc := range []struct {
		arn string
		ok  bool
	}{
		{"", true},
		{minter, true},
		{"acs:ram::1234567890123456:role/AcrMinter.v2_x", true},
		{"acs:ram::1234567890123456:role/", false},
		{"acs:ram::12345abc:role/minter", false},
		{"acs:ram:cn-hangzhou:1234567890123456:role/minter", false},
		{"acs:ram::1234567890123456:user/minter", false},
		{"acr-token-minter", false},
		{"acs:ram::1234567890123456:role/minter\"}", false},
	} {
		for _, cfg := range []port.SourceConfig{
			&EEConfig{InstanceID: "cri-abc", RegionID: "cn-hangzhou", AssumeRole: tc.arn},
			&PersonalConfig{RegionID: "cn-hangzhou", AssumeRole: tc.arn},
		} {
			err := cfg.Validate()
			if (err == nil) != tc.ok || (err != nil && !strings.HasPrefix(err.Error(), "assumeRole: ")) {
				t.Errorf("%T %q: %v", cfg, tc.arn, err)
			}
		}
	}
}

func TestSessionName(t *testing.T) {
	for _, tc := range []struct{ fc, want string }{
		{"", "rotator"},
		{"secret-rotator", "secret-rotator"},
		{"a", "rotator"},
		{"rot@tor_v1.2", "rot@tor_v1.2"},
		{"名前", "--"}, {"fn name", "fn-name"},
		{strings.Repeat("x", 70), strings.Repeat("x", 64)},
	} {
		if got := sessionName(func(string) string { return tc.fc }); got != tc.want {
			t.Errorf("FC_FUNCTION_NAME %q: %q, want %q", tc.fc, got, tc.want)
		}
	}
}

func TestValidatePersonalInstance(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{{"", true}, {"crpi-k4x9b2", true}, {"crpi-", false}, {"cri-abc", false}, {"CRPI-ABC", false}, {"crpi-a.b", false}} {
		cfg := &PersonalConfig{RegionID: "cn-hangzhou", InstanceID: tc.id}
		if err := cfg.Validate(); (err == nil) != tc.ok || (err != nil && !strings.HasPrefix(err.Error(), "instanceId: ")) {
			t.Errorf("%q: %v", tc.id, err)
		}
	}
	a, b := &PersonalConfig{RegionID: "cn-hangzhou"}, &PersonalConfig{RegionID: "cn-hangzhou", InstanceID: "crpi-k4x9b2"}
	if a.Key() == b.Key() || b.Describe() != "acr-personal crpi-k4x9b2 (cn-hangzhou)" {
		t.Errorf("keys %q %q, describe %q", a.Key(), b.Key(), b.Describe())
	}
}

// A Personal Edition source matches no registry event.
func TestPersonalMatchesNoEvent(t *testing.T) {
	cfg := &PersonalConfig{RegionID: "cn-hangzhou"}
	for _, ev := range []port.Event{{Source: "acs.cr", Data: []byte(`{"InstanceId":"cri-abc","RegionId":"cn-hangzhou"}`)}, {Source: "acs.cr", Data: []byte(`{"RegionId":"cn-hangzhou"}`)}} {
		if cfg.Matches(ev) {
			t.Errorf("matched %+v", ev)
		}
	}
}
