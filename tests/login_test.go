package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// loginConfig is config with the target's source's loginCheck set.
func loginConfig(mode string, refs ...string) string {
	cfg := config(target("prod-pull", refs...))
	if mode == "" {
		return cfg
	}
	return strings.Replace(cfg, `"type":"acr-ee"`, `"type":"acr-ee","loginCheck":"`+mode+`"`, 1)
}

// closedPort is a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	return "http://" + freeAddr(t)
}

// Every new token is proven against the registry before it is written:
// accepted, refused, unreachable in each mode, 5xx retried, a plain-http
// realm off loopback refused, one login however many secrets.
func TestLoginCheck(t *testing.T) {
	t.Parallel()
	type want struct {
		status string
		code   rotation.Code
		login  string
		writes bool
	}
	rotated := func(login string) want { return want{rotation.StatusRotated, "", login, true} }
	failed := func(code rotation.Code) want { return want{rotation.StatusFailed, code, "", false} }
	for _, tc := range []struct {
		name  string
		mode  string
		setup func(w *world) []string // extra environment
		event string
		want  want
	}{
		{"accepted", "", nil, "", rotated(rotation.LoginOK)},
		{"refused by the registry", "", func(w *world) []string { w.emu.SetRegistryRefuse(true); return nil }, "", failed(rotation.CredentialRejected)},
		{"refused, loginCheck off", "off", func(w *world) []string { w.emu.SetRegistryRefuse(true); return nil }, "", rotated(rotation.LoginSkipped)},
		{"token endpoint 503 then recovery", "", func(w *world) []string {
			w.emu.SetFault("Token", emulator.Fault{Fail: 2, FailStatus: 503})
			return nil
		}, "", rotated(rotation.LoginOK)},
		{"unreachable, auto", "auto", func(w *world) []string { return []string{"ROTATOR_REGISTRY_ENDPOINT=" + closedPort(w.t)} }, "", rotated(rotation.LoginUnreachable)},
		{"unreachable, required", "required", func(w *world) []string { return []string{"ROTATOR_REGISTRY_ENDPOINT=" + closedPort(w.t)} }, "", failed(rotation.CredentialSourceFailed)},
		{"plain-http realm off loopback, auto", "", func(w *world) []string { w.emu.SetRegistryRealm("http://203.0.113.9/token"); return nil }, "", rotated(rotation.LoginUnreachable)},
		{"plain-http realm off loopback, required", "required", func(w *world) []string { w.emu.SetRegistryRealm("http://203.0.113.9/token"); return nil }, "", failed(rotation.CredentialSourceFailed)},
		{"plan", "required", nil, `{"action":"plan"}`, want{rotation.StatusPlanned, "", rotation.LoginSkipped, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			var refs []string
			var ids []int64
			for _, name := range []string{"pull-a", "pull-b", "pull-c"} {
				id := w.secret(nsProd, name, map[string]auth{"registry.example.com": login("team", "foreign-password")}, nil)
				ids, refs = append(ids, id), append(refs, byID(nsProd, id))
			}
			var env []string
			if tc.setup != nil {
				env = tc.setup(w)
			}
			event := tc.event
			if event == "" {
				event = timerEvent("")
			}
			f := w.start(loginConfig(tc.mode, refs...), env...)
			rep, _ := f.invoke(event, time.Minute)
			if len(rep.Results) != 3 {
				w.guard.Fatalf("report: %+v", rep)
			}
			for _, r := range rep.Results {
				code := rotation.Code("")
				if r.Error != nil {
					code = r.Error.Code
				}
				if r.Status != tc.want.status || code != tc.want.code || r.Login != tc.want.login {
					w.guard.Errorf("secret %d: status %q code %q login %q (%+v), want %+v", idOf(r), r.Status, code, r.Login, r.Error, tc.want)
				}
			}
			for _, id := range ids {
				if got := w.writes(nsProd, id) > 0; got != tc.want.writes {
					t.Errorf("secret %d written: %v, want %v", id, got, tc.want.writes)
				}
			}
			logins := w.calls("Token")
			switch {
			case tc.want.login == rotation.LoginOK && tc.name == "accepted":
				if len(logins) != 1 {
					t.Errorf("%d token exchanges for one token and three secrets, want 1", len(logins))
				}
				// The login came before every write.
				if ups := w.calls("UpdateSecret"); len(ups) == 0 || ups[0].Time.Before(logins[0].Time) {
					t.Error("a secret was written before the login check")
				}
			case tc.want.login == rotation.LoginSkipped:
				if n := len(w.calls("Ping")) + len(logins); n != 0 {
					t.Errorf("%d registry calls, want none", n)
				}
			case tc.name == "refused by the registry":
				if n := len(w.calls("UpdateSecret")); n != 0 {
					t.Errorf("%d UpdateSecret calls after a refused login, want 0", n)
				}
			}
			if tc.want.login == rotation.LoginUnreachable {
				warned := false
				for _, l := range logLines(f.stderr.Bytes()) {
					warned = warned || (l["level"] == "warn" && strings.Contains(l["msg"].(string), "login check could not be made"))
				}
				if !warned {
					t.Error("no warning that the login could not be made")
				}
			}
		})
	}
}
