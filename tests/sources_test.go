package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// The credential sources beside ACR EE's plain token: ACR Personal Edition,
// and minting with an assumed role so that a token lives its full hour.

const minterRole = "acs:ram::1234567890123456:role/acr-token-minter"

const (
	personalHost    = "registry.cn-hangzhou.aliyuncs.com"
	personalVPCHost = "registry-vpc.cn-hangzhou.aliyuncs.com"
)

// shortLived is a function role's session that expires in fifteen minutes,
// as the emulated FC runtime passes it: a token signed with it dies with it.
func (w *world) shortLived() emulator.Credential {
	c := emulator.Credential{AccessKeyID: "STS.e2eShortLived", AccessKeySecret: "e2e-short-lived-secret", SecurityToken: "e2e-short-lived-token",
		Expires: time.Now().Add(15 * time.Minute)}
	w.emu.AddCredential(c)
	w.guard.Add(c.AccessKeySecret, c.SecurityToken)
	return c
}

// personalTarget and eeRoleTarget render targets of the two sources.
func personalTarget(name string, refs ...string) string {
	return `{"name":"` + name + `","source":{"type":"acr-personal","regionId":"` + region + `"},"secrets":[` + strings.Join(refs, ",") + `]}`
}

func eeRoleTarget(name, role string, refs ...string) string {
	return `{"name":"` + name + `","source":{"type":"acr-ee","instanceId":"` + instanceID + `","regionId":"` + region +
		`","assumeRole":"` + role + `"},"secrets":[` + strings.Join(refs, ",") + `]}`
}

func stsEnv(w *world) string { return "ROTATOR_STS_ENDPOINT=" + w.emu.URL() }

func crEvent(instance string) string {
	b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "evt-src", "source": "acs.cr", "type": "cr:Artifact:PushCompleted",
		"time": "2026-11-23T10:00:00Z", "aliyunregionid": region, "data": map[string]string{"InstanceId": instance, "RegionId": region}})
	return string(b)
}

// resultOf is the first result of a target.
func resultOf(rep rotation.Report, target string) (rotation.Result, bool) {
	return firstResult(rep, func(r rotation.Result) bool { return r.Target == target })
}

// firstResult is the first result that match says it wants.
func firstResult(rep rotation.Report, match func(rotation.Result) bool) (rotation.Result, bool) {
	for _, r := range rep.Results {
		if match(r) {
			return r, true
		}
	}
	return rotation.Result{}, false
}

// A CloudEvent of the EE instance rotates the EE target only (CloudEvents
// name no Personal Edition instance); then a timer run rotates both in one
// invocation. The function's own credentials expire in fifteen minutes:
// the EE target's token, minted with the assumed role, still lives about an
// hour, while the Personal target's, minted with the function's own, is
// cut short and flagged expiresBeforeNextRun. Both runs share one
// AssumeRole.
func TestPersonalAndAssumedRoleTargets(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fn := w.shortLived()
	w.emu.AddRole(minterRole, fn.AccessKeyID)
	pid := w.secret(nsProd, "personal-pull", map[string]auth{"docker.io": login("team", "docker-hub-password")}, nil)
	eid := w.secret(nsProd, "ee-pull", map[string]auth{}, nil)
	f := w.start(config(personalTarget("personal-pull", byID(nsProd, pid)), eeRoleTarget("ee-pull", minterRole, byID(nsProd, eid))), stsEnv(w))

	rep, failed, err := f.invokeAs(fn, crEvent(instanceID), time.Minute)
	if err != nil || failed || rep.Rotated != 1 || len(rep.Results) != 1 || rep.Results[0].Target != "ee-pull" {
		w.guard.Fatalf("event run: err=%v failed=%v results=%+v", err, failed, rep.Results)
	}
	if n := w.writes(nsProd, pid); n != 0 {
		t.Errorf("the event of an EE instance wrote the Personal Edition secret %d times", n)
	}
	if n := len(w.calls("GetAuthorizationToken")); n != 1 {
		t.Errorf("the event run minted %d tokens, want 1 (the EE instance's)", n)
	}

	start := time.Now()
	rep, failed, err = f.invokeAs(fn, timerEvent(""), time.Minute)
	if err != nil || failed || rep.Rotated != 2 || rep.Failed != 0 {
		w.guard.Fatalf("timer run: err=%v failed=%v rotated=%d results=%+v", err, failed, rep.Rotated, rep.Results)
	}
	ee, _ := resultOf(rep, "ee-pull")
	if ee.ExpiresAt == nil || ee.ExpiresAt.Sub(start) < 59*time.Minute || ee.ExpiresAt.Sub(start) > time.Hour || ee.ExpiresBeforeNextRun {
		t.Errorf("EE token with assumeRole: expiresAt %v (flagged %v), want about an hour away", ee.ExpiresAt, ee.ExpiresBeforeNextRun)
	}
	pr, _ := resultOf(rep, "personal-pull")
	if pr.ExpiresAt == nil || pr.ExpiresAt.After(fn.Expires) || !pr.ExpiresBeforeNextRun {
		t.Errorf("Personal token without assumeRole: expiresAt %v (flagged %v), want the function credentials' expiry %v, flagged",
			pr.ExpiresAt, pr.ExpiresBeforeNextRun, fn.Expires)
	}
	if fmt.Sprint(pr.Registries) != fmt.Sprint([]string{personalHost, personalVPCHost}) {
		t.Errorf("Personal registries %v", pr.Registries)
	}

	assumed := w.calls("AssumeRole")
	sessions := w.emu.AssumedCredentials()
	if len(assumed) != 1 || len(sessions) != 1 || assumed[0].AccessKeyID != fn.AccessKeyID {
		t.Fatalf("AssumeRole called %d times, want once across both runs, by the function's credentials", len(assumed))
	}
	var personal, eeToks []emulator.Token
	for _, tok := range w.emu.Tokens() {
		if tok.InstanceID == emulator.PersonalInstanceID(region) {
			personal = append(personal, tok)
		} else {
			eeToks = append(eeToks, tok)
		}
	}
	if len(personal) != 1 || personal[0].AccessKeyID != fn.AccessKeyID {
		t.Fatalf("%d Personal Edition tokens, want 1 minted with the function's credentials", len(personal))
	}
	for _, tok := range eeToks {
		if tok.AccessKeyID != sessions[0].AccessKeyID {
			t.Errorf("an EE token was minted with %s, not the assumed session", tok.AccessKeyID)
		}
	}
	w.holdsToken(nsProd, pid, personal[0], personalHost, personalVPCHost)
	w.holdsToken(nsProd, eid, eeToks[len(eeToks)-1], publicHost, vpcHost)
	if auths, _ := w.dockerConfig(nsProd, pid); auths["docker.io"] != login("team", "docker-hub-password") {
		t.Error("the Personal secret lost its docker.io login")
	}
	// Domains are read with the function's own credentials.
	for _, c := range w.calls("ListInstanceEndpoint") {
		if c.AccessKeyID != fn.AccessKeyID {
			t.Errorf("ListInstanceEndpoint signed with %s", c.AccessKeyID)
		}
	}
}

// An AssumeRole the role refuses fails its target with
// CredentialSourceFailed and writes nothing there; the other target
// rotates. Nothing of any credential is printed (the guard).
func TestAssumeRoleRefusedFailsTheSource(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fn := w.shortLived()
	w.emu.AddRole(minterRole, "LTAIanotherFunction") // the trust policy names another principal
	pid := w.secret(nsProd, "personal-pull", map[string]auth{}, nil)
	eid := w.secret(nsProd, "ee-pull", map[string]auth{publicHost: login("cr_temp_user", "previous-token")}, nil)
	before := w.stored(nsProd, eid)
	f := w.start(config(personalTarget("personal-pull", byID(nsProd, pid)), eeRoleTarget("ee-pull", minterRole, byID(nsProd, eid))), stsEnv(w))

	rep, failed, err := f.invokeAs(fn, timerEvent(""), time.Minute)
	if err != nil || !failed || rep.Rotated != 1 || rep.Failed != 1 {
		w.guard.Fatalf("err=%v failed=%v rotated=%d failed=%d", err, failed, rep.Rotated, rep.Failed)
	}
	r, _ := resultOf(rep, "ee-pull")
	if r.Error == nil || r.Error.Code != rotation.CredentialSourceFailed || !strings.Contains(r.Error.Message, "AssumeRole") ||
		!strings.Contains(r.Error.Message, "NoPermission") || !strings.Contains(r.Error.Message, minterRole) {
		w.guard.Errorf("ee-pull: %+v", r.Error)
	}
	if n := w.writes(nsProd, eid); n != 0 {
		t.Errorf("ee-pull was written %d times", n)
	}
	if after := w.stored(nsProd, eid); after.UpdateTime != before.UpdateTime {
		t.Error("ee-pull changed")
	}
	if n := len(w.calls("GetAuthorizationToken")); n != 1 {
		t.Errorf("%d tokens minted, want only the Personal target's", n)
	}
	if r, _ := resultOf(rep, "personal-pull"); r.Status != rotation.StatusRotated {
		t.Errorf("personal-pull: %s", r.Status)
	}
}

// A mint signed with an assumed session fails with a message that quotes
// the request and the session's security token, whole or cut short: no
// 12-character piece of the session's secrets reaches the report, the logs
// or stdout (the session is new: the redactor must know it before the
// failure is worded).
func TestAssumedSessionQuotedInAFailedMint(t *testing.T) {
	t.Parallel()
	for _, cut := range []int{0, 200} {
		t.Run(fmt.Sprintf("cut %d", cut), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			w.emu.AddRole(minterRole, sts.AccessKeyID)
			eid := w.secret(nsProd, "ee-pull", map[string]auth{}, nil)
			w.emu.SetFault("GetAuthorizationToken", emulator.Fault{Echo: 1000, EchoCut: cut})
			f := w.start(config(eeRoleTarget("ee-pull", minterRole, byID(nsProd, eid))), stsEnv(w))
			rep, failed := f.invoke(timerEvent(""), time.Minute)
			if !failed || rep.Failed != 1 || rep.Results[0].Error == nil || rep.Results[0].Error.Code != rotation.CredentialSourceFailed {
				w.guard.Fatalf("failed=%v results=%+v", failed, rep.Results)
			}
			sessions := w.emu.AssumedCredentials()
			if len(sessions) != 1 {
				t.Fatalf("%d sessions assumed, want 1", len(sessions))
			}
			out := map[string][]byte{"stdout": f.stdout.Bytes(), "stderr": f.stderr.Bytes(), "report": rep.JSON()}
			for name, b := range out {
				for i, s := range []string{sessions[0].AccessKeySecret, sessions[0].SecurityToken} {
					if p, ok := sharedPiece(string(b), s, 12); ok {
						t.Errorf("%s holds a 12-character piece of the session's secret #%d (at offset %d of it)", name, i, p)
					}
				}
			}
		})
	}
}
