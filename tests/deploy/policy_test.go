package deploy_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// checkTrust checks a role's trust policy: only Function Compute may assume it.
func checkTrust(t *testing.T, where string, doc any) {
	t.Helper()
	stmts, _ := mustMap(t, where, doc)["Statement"].([]any)
	if len(stmts) != 1 {
		t.Fatalf("%s: want one statement, got %d", where, len(stmts))
	}
	st := mustMap(t, where, stmts[0])
	if st["Effect"] != "Allow" || st["Action"] != "sts:AssumeRole" {
		t.Errorf("%s: %v %v, want Allow sts:AssumeRole", where, st["Effect"], st["Action"])
	}
	principal := mustMap(t, where+" Principal", st["Principal"])
	if len(principal) != 1 {
		t.Errorf("%s: principals %v, want only Service", where, sortedKeys(principal))
	}
	var services []string
	switch s := principal["Service"].(type) {
	case string:
		services = []string{s}
	case []any:
		for _, e := range s {
			services = append(services, fmt.Sprint(e))
		}
	}
	if len(services) != 1 || services[0] != "fc.aliyuncs.com" {
		t.Errorf("%s: trusted services %v, want only fc.aliyuncs.com", where, services)
	}
	if _, ok := st["Condition"]; ok {
		t.Logf("%s: has a Condition", where)
	}
}

func TestRAMPolicies(t *testing.T) {
	tpl := loadTemplate(t)
	_, role := tpl.one(t, "ALIYUN::RAM::Role")
	checkTrust(t, "template.yaml AssumeRolePolicyDocument", role["AssumeRolePolicyDocument"])
	checkTrust(t, "deploy/ram-trust-policy.json", readJSON(t, repoPath("deploy", "ram-trust-policy.json")))

	// The function's role is the one the template creates.
	_, fn := tpl.one(t, "ALIYUN::FC3::Function")
	if b, _ := json.Marshal(fn["Role"]); !strings.Contains(string(b), `"Arn"`) {
		t.Errorf("template.yaml: the function's Role %s is not the created role's Arn", b)
	}

	tplActions := templateRoleActions(t, tpl)
	fileActions := policyActions(t, "deploy/ram-policy.json", readJSON(t, repoPath("deploy", "ram-policy.json")))
	platform := policyActions(t, "deploy/ram-platform-policy.json", readJSON(t, repoPath("deploy", "ram-platform-policy.json")))

	for _, a := range append(append(append([]string{}, tplActions...), fileActions...), platform...) {
		if strings.Contains(a, "*") {
			t.Errorf("wildcard action %q", a)
		}
	}
	split := func(actions []string) (code, other map[string]bool) {
		code, other = map[string]bool{}, map[string]bool{}
		for _, a := range actions {
			if codeService(a) {
				code[a] = true
			} else {
				other[a] = true
			}
		}
		return code, other
	}
	tplCode, tplOther := split(tplActions)
	fileCode, fileOther := split(fileActions)
	platCode, platOther := split(platform)
	if !equalSets(tplCode, fileCode) {
		t.Errorf("code actions: template.yaml %v, deploy/ram-policy.json %v", sortedKeys(tplCode), sortedKeys(fileCode))
	}
	if len(fileOther) != 0 || len(platCode) != 0 {
		t.Errorf("deploy/ram-policy.json holds only what the code calls (extra %v); the platform policy only what FC does (extra %v)", sortedKeys(fileOther), sortedKeys(platCode))
	}
	for a := range tplOther {
		if !platformActions[a] {
			t.Errorf("template.yaml grants %s, which neither the code nor FC's log and destination delivery needs", a)
		}
	}
	if !equalSets(tplOther, platOther) {
		t.Errorf("platform actions: template.yaml %v, deploy/ram-platform-policy.json %v", sortedKeys(tplOther), sortedKeys(platOther))
	}

	// The JSON policies for `s deploy` users name the same resources as s.yaml.
	s := loadSYAML(t)
	files, _ := json.Marshal([]any{readJSON(t, repoPath("deploy", "ram-policy.json")), readJSON(t, repoPath("deploy", "ram-platform-policy.json"))})
	for _, want := range []string{
		"instance/" + s.varString(t, "instanceId"),
		"project/" + s.varString(t, "logProject") + "/logstore/" + s.varString(t, "logStore"),
		s.varString(t, "failureDestination"),
	} {
		if !strings.Contains(string(files), want) {
			t.Errorf("deploy/ram-*.json: no resource %q (from s.yaml vars)", want)
		}
	}

	// ACR: GetAuthorizationToken on "*", pull (never push or delete) on the
	// instance's repositories.
	checkCRStatements(t, "deploy/ram-policy.json", readJSON(t, repoPath("deploy", "ram-policy.json")), nil)
	checkCRStatements(t, "template.yaml RotatorPolicy", tpl.props(t, "RotatorPolicy")["PolicyDocument"],
		map[string]string{"RegionId": "cn-hangzhou", "ALIYUN::AccountId": "1234567890123456", "InstanceId": "cri-xxxxxxxxxxxxxxxx"})

	// KMS is granted on one secret, never on every secret of the account.
	tplDoc, _ := json.Marshal(tpl.props(t, "RotatorPolicy")["PolicyDocument"])
	for what, doc := range map[string]any{"deploy/ram-policy.json": readJSON(t, repoPath("deploy", "ram-policy.json")), "template.yaml RotatorPolicy": json.RawMessage(tplDoc)} {
		checkKMSResource(t, what, doc)
	}
}

// checkKMSResource wants the kms actions of a policy in one statement whose
// resource names a secret: acs:kms:<region>:<account>:secret/<name>.
func checkKMSResource(t *testing.T, what string, doc any) {
	t.Helper()
	b, _ := json.Marshal(doc)
	var policy struct {
		Statement []struct {
			Action   []string
			Resource any
		}
	}
	if err := json.Unmarshal(b, &policy); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	found := false
	for _, st := range policy.Statement {
		if !strings.HasPrefix(strings.Join(st.Action, ","), "kms:") {
			continue
		}
		found = true
		if got := strings.Join(st.Action, ","); got != "kms:GetSecretValue,kms:PutSecretValue" {
			t.Errorf("%s: kms actions %s, want exactly kms:GetSecretValue and kms:PutSecretValue", what, got)
		}
		res, _ := json.Marshal(st.Resource)
		if !regexp.MustCompile(`acs:kms:[^:"*]+:([0-9]+|\$\{ALIYUN::AccountId\}):secret/[^"*]+`).Match(res) {
			t.Errorf("%s: kms resource %s does not name one secret (acs:kms:<region>:<account>:secret/<name>)", what, res)
		}
	}
	if !found {
		t.Errorf("%s: no statement grants the kms actions", what)
	}
}

// TestMintingRolePolicies checks the optional minting role: the function's
// role may assume it only when the template is given one (sts:AssumeRole on
// that ARN and nothing else), the role trusts the function's role only, and
// holds only cr:GetAuthorizationToken.
func TestMintingRolePolicies(t *testing.T) {
	tpl := loadTemplate(t)
	if d, ok := tpl.paramDefault(t, "MintingRoleArn"); !ok || d != "" {
		t.Errorf("template.yaml: MintingRoleArn defaults to %v, want '' (no minting role, no sts:AssumeRole)", d)
	}
	roleName, _ := tpl.one(t, "ALIYUN::RAM::Role")
	conditions, _ := tpl.raw["Conditions"].(map[string]any)
	found := 0
	for _, name := range tpl.ofType("ALIYUN::RAM::ManagedPolicy") {
		cond, ok := tpl.resources[name]["Condition"]
		if !ok {
			continue
		}
		found++
		expr, _ := json.Marshal(conditions[fmt.Sprint(cond)])
		if !strings.Contains(string(expr), `{"Ref":"MintingRoleArn"}`) || !strings.Contains(string(expr), "Fn::Not") {
			t.Errorf("template.yaml %s: Condition %v does not test that MintingRoleArn is set: %s", name, cond, expr)
		}
		p := tpl.props(t, name)
		if b, _ := json.Marshal(p["Roles"]); !strings.Contains(string(b), `"`+roleName+`"`) {
			t.Errorf("template.yaml %s: not attached to the function's role", name)
		}
		doc := mustGet(t, name, p, "PolicyDocument")
		if a := policyActions(t, name, doc); len(a) != 1 || a[0] != "sts:AssumeRole" {
			t.Errorf("template.yaml %s: grants %v, want only sts:AssumeRole", name, a)
		}
		for _, st := range mustMap(t, name, doc)["Statement"].([]any) {
			if b, _ := json.Marshal(mustMap(t, name, st)["Resource"]); string(b) != `{"Ref":"MintingRoleArn"}` {
				t.Errorf("template.yaml %s: Resource %s, want the MintingRoleArn parameter", name, b)
			}
		}
	}
	if found != 1 {
		t.Errorf("template.yaml: %d conditional policies, want the one minting policy", found)
	}

	s := loadSYAML(t)
	mint := readJSON(t, repoPath("deploy", "ram-minting-role-policy.json"))
	if a := policyActions(t, "deploy/ram-minting-role-policy.json", mint); !equalSets(setOf(a...), setOf("cr:GetAuthorizationToken", "cr:PullRepository")) {
		t.Errorf("deploy/ram-minting-role-policy.json grants %v, want only cr:GetAuthorizationToken and cr:PullRepository", a)
	}
	if b, _ := json.Marshal(mint); !strings.Contains(string(b), "repository/"+s.varString(t, "instanceId")+"/*") {
		t.Errorf("deploy/ram-minting-role-policy.json: no repository resource for s.yaml's instanceId")
	}
	checkCRStatements(t, "deploy/ram-minting-role-policy.json", mint, nil)
	trust := readJSON(t, repoPath("deploy", "ram-minting-trust-policy.json"))
	stmts, _ := trust["Statement"].([]any)
	if len(stmts) != 1 {
		t.Fatalf("deploy/ram-minting-trust-policy.json: %d statements, want 1", len(stmts))
	}
	st := mustMap(t, "trust", stmts[0])
	principal, _ := json.Marshal(st["Principal"])
	want, _ := json.Marshal(map[string]any{"RAM": []string{s.varString(t, "role")}})
	if st["Effect"] != "Allow" || st["Action"] != "sts:AssumeRole" || string(principal) != string(want) {
		t.Errorf("deploy/ram-minting-trust-policy.json: %v %v %s, want Allow sts:AssumeRole by the function's role %s only",
			st["Effect"], st["Action"], principal, s.varString(t, "role"))
	}
}
