package deploy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// TestMintingRoleActionsMatchTheCallsOfARun runs the function with a source
// that names a minting role and sorts the RAM actions of its calls by
// signer: the function's own credentials need the function policy plus
// sts:AssumeRole (the template's conditional grant), the minting role's
// session needs only what deploy/ram-minting-role-policy.json grants.
func TestMintingRoleActionsMatchTheCallsOfARun(t *testing.T) {
	const role = "acs:ram::1234567890123456:role/acr-token-minter"
	bin := goBuild(t, "./function", "main")
	w := startWorld(t)
	w.srv.AddRole(role, emulator.DefaultCredential.AccessKeyID)
	// The role's session mints: it may pull what its own policy grants.
	grantFromPolicy(t, w.srv, role, "ram-minting-role-policy.json")
	cfg := strings.Replace(w.config, `"domains":[]`, `"domains":[],"assumeRole":"`+role+`"`, 1)
	env := append(w.env(), "ROTATOR_CONFIG="+cfg, "ROTATOR_STS_ENDPOINT="+w.srv.URL())
	timer := fmt.Sprintf(`{"triggerTime":%q,"triggerName":"t","payload":""}`, time.Now().UTC().Format(time.RFC3339))
	code, rep, stderr := runFunction(t, w, bin, repoRoot, env, timer)
	if code != 0 || rep == nil || rep.Rotated == 0 || rep.Failed != 0 {
		w.guard.Fatalf("timer run with assumeRole: exit %d, report %+v; stderr:\n%s", code, rep, tail(stderr))
	}

	byFunction, bySession := map[string]bool{}, map[string]bool{}
	for _, c := range w.srv.Calls() {
		switch p := permission(c); {
		case p == "": // the login check signs with the token, not a role
		case c.AccessKeyID == emulator.DefaultCredential.AccessKeyID:
			byFunction[p] = true
		default:
			bySession[p] = true
		}
	}
	want := setOf(policyActions(t, "deploy/ram-policy.json", readJSON(t, repoPath("deploy", "ram-policy.json")))...)
	want["sts:AssumeRole"] = true
	delete(want, "cr:GetAuthorizationToken") // minted with the session,
	delete(want, "cr:PullRepository")        // whose tokens pull as the role
	if !equalSets(byFunction, want) {
		t.Errorf("the function's credentials called %v; its policies grant %v (with the minting policy)", sortedKeys(byFunction), sortedKeys(want))
	}
	minting := setOf(policyActions(t, "deploy/ram-minting-role-policy.json", readJSON(t, repoPath("deploy", "ram-minting-role-policy.json")))...)
	if !equalSets(bySession, minting) {
		t.Errorf("the minting role's session called %v; deploy/ram-minting-role-policy.json grants %v", sortedKeys(bySession), sortedKeys(minting))
	}
}
