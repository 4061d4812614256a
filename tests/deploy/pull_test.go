package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// A temporary ACR token carries the permissions of the identity that minted
// it (GetAuthorizationToken,
// https://www.alibabacloud.com/help/en/acr/developer-reference/api-cr-2018-12-01-getauthorizationtoken):
// the minting identity must hold cr:PullRepository, or the tokens written
// log in but cannot pull. GetAuthorizationToken itself has no
// resource-level permission (same page; the rules table
// https://www.alibabacloud.com/help/doc-detail/144948.htm lists "*").

// publish pushes e2eRepository (the image the source's probeRepository
// names) to the world's instance as a CI job would, then forgets the push's calls.
func publish(t *testing.T, srv *emulator.Server) {
	t.Helper()
	if _, err := srv.Publish(context.Background(), e2eInstance, e2eRepository, "v1"); err != nil {
		t.Fatal(err)
	}
}

// grantFromPolicy gives identity, in the emulator's RAM, the registry
// actions that the statements of deploy/<file> grant, on their resources
// (s.yaml's instanceId standing for the world's instance): a run then pulls
// only if the shipped policy lets it.
func grantFromPolicy(t *testing.T, srv *emulator.Server, identity, file string) {
	t.Helper()
	instance := loadSYAML(t).varString(t, "instanceId")
	for _, st := range statements(t, "deploy/"+file, readJSON(t, repoPath("deploy", file)), nil) {
		for _, a := range st.actions {
			if a != emulator.ActionPull && a != emulator.ActionPush {
				continue
			}
			var res []string
			for _, r := range st.resources {
				res = append(res, strings.ReplaceAll(r, "/"+instance+"/", "/"+e2eInstance+"/"))
			}
			if err := srv.Grant(identity, a, res...); err != nil {
				t.Fatalf("deploy/%s: %v", file, err)
			}
		}
	}
}

// statement is one Allow statement, its resources evaluated.
type statement struct {
	actions, resources []string
}

// statements reads a policy document's statements; a resource given as
// {"Fn::Sub": ...} is evaluated with sub.
func statements(t *testing.T, what string, doc any, sub map[string]string) []statement {
	t.Helper()
	b, _ := json.Marshal(doc)
	var policy struct {
		Statement []struct {
			Action   any
			Resource any
		}
	}
	if err := json.Unmarshal(b, &policy); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	list := func(v any) []any {
		if l, ok := v.([]any); ok {
			return l
		}
		return []any{v}
	}
	var out []statement
	for _, st := range policy.Statement {
		var s statement
		for _, a := range list(st.Action) {
			s.actions = append(s.actions, fmt.Sprint(a))
		}
		for _, r := range list(st.Resource) {
			if str, ok := r.(string); ok {
				s.resources = append(s.resources, str)
			} else if sub != nil {
				s.resources = append(s.resources, subPattern(t, r, sub))
			} else {
				t.Fatalf("%s: resource %v is not a string", what, r)
			}
		}
		out = append(out, s)
	}
	return out
}

// checkCRStatements: cr:GetAuthorizationToken alone in a statement on "*";
// cr:PullRepository on acs:cr:<region>:<account>:repository/<instanceId>/*
// only; no push, no delete. sub evaluates a template's Fn::Sub; nil is a
// JSON file, whose instance is s.yaml's.
func checkCRStatements(t *testing.T, what string, doc any, sub map[string]string) {
	t.Helper()
	instance := sub["InstanceId"]
	if sub == nil {
		instance = loadSYAML(t).varString(t, "instanceId")
	}
	repository := regexp.MustCompile(`^acs:cr:[a-z0-9-]+:[0-9]+:repository/` + regexp.QuoteMeta(instance) + `/\*$`)
	mint, pull := false, false
	for _, st := range statements(t, what, doc, sub) {
		for _, a := range st.actions {
			switch {
			case a == "cr:GetAuthorizationToken":
				mint = true
				if len(st.actions) != 1 || len(st.resources) != 1 || st.resources[0] != "*" {
					t.Errorf(`%s: cr:GetAuthorizationToken has no resource-level permission: want it alone in a statement on Resource "*", got %v on %v`,
						what, st.actions, st.resources)
				}
			case a == "cr:PullRepository":
				pull = true
				for _, r := range st.resources {
					if !repository.MatchString(r) {
						t.Errorf("%s: cr:PullRepository on %q, want acs:cr:<region>:<account>:repository/%s/*", what, r, instance)
					}
				}
			case strings.HasPrefix(a, "cr:Push"), strings.HasPrefix(a, "cr:Delete"), strings.HasPrefix(a, "cr:Create"), strings.HasPrefix(a, "cr:Update"):
				t.Errorf("%s grants %s: the minting identity pulls only", what, a)
			}
		}
	}
	if !mint || !pull {
		t.Errorf("%s: grants cr:GetAuthorizationToken %v, cr:PullRepository %v; want both", what, mint, pull)
	}
}
