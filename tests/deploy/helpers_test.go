// Package deploy_test checks the deploy files (s.yaml, template.yaml,
// deploy/) against the schemas in testdata/, against each other and
// against what the code actually reads and calls.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// The repository root, relative to this package's directory (go test runs a
// package in its own folder).
const repoRoot = "../.."

// testdataDir holds the schemas the deploy files are checked against (see
// testdata/README.md for their origin and version).
const testdataDir = "testdata"

// tokenLifetime is the longest an ACR EE temporary token lives.
const tokenLifetime = 60 * 60 // seconds

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{repoRoot}, parts...)...)
}

func testdataPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(testdataDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing (%v)", p, err)
	}
	return p
}

// readYAML decodes a YAML file into generic JSON values (map[string]any,
// []any, float64, string, bool), the shape the schema validator takes.
func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: top level is not a mapping", path)
	}
	return m
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: top level is not an object", path)
	}
	return m
}

// get walks a path of map keys and returns the value and whether it exists.
func get(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func mustGet(t *testing.T, what string, v any, keys ...string) any {
	t.Helper()
	got, ok := get(v, keys...)
	if !ok {
		t.Fatalf("%s: %s is missing", what, strings.Join(keys, "."))
	}
	return got
}

func mustMap(t *testing.T, what string, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: want a mapping, got %T", what, v)
	}
	return m
}

func mustString(t *testing.T, what string, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s: want a string, got %T (%v)", what, v, v)
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func setOf(items ...string) map[string]bool {
	s := map[string]bool{}
	for _, i := range items {
		s[i] = true
	}
	return s
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// --- s.yaml ---------------------------------------------------------------

var varRef = regexp.MustCompile(`\$\{vars\.([A-Za-z0-9_]+)\}`)

// sYAML is s.yaml with every ${vars.x} replaced by its value from the vars
// block, as Serverless Devs does before it hands props to the component.
type sYAML struct {
	raw  map[string]any
	vars map[string]any
	// fc3 resources by name: their props with vars resolved.
	props map[string]map[string]any
}

func loadSYAML(t *testing.T) *sYAML {
	t.Helper()
	raw := readYAML(t, repoPath("s.yaml"))
	vars, _ := raw["vars"].(map[string]any)
	s := &sYAML{raw: raw, vars: vars, props: map[string]map[string]any{}}
	resources := mustMap(t, "s.yaml resources", mustGet(t, "s.yaml", raw, "resources"))
	for name, r := range resources {
		rm := mustMap(t, "s.yaml resources."+name, r)
		if rm["component"] != "fc3" {
			continue
		}
		props := resolveVars(t, vars, mustGet(t, "s.yaml resources."+name, rm, "props"))
		s.props[name] = mustMap(t, "s.yaml resources."+name+".props", props)
	}
	if len(s.props) == 0 {
		t.Fatal("s.yaml: no fc3 resource")
	}
	return s
}

// function returns the props of the one fc3 resource.
func (s *sYAML) function(t *testing.T) map[string]any {
	t.Helper()
	if len(s.props) != 1 {
		t.Fatalf("s.yaml: want one fc3 resource, got %v", sortedKeys(s.props))
	}
	for _, p := range s.props {
		return p
	}
	return nil
}

func (s *sYAML) varString(t *testing.T, name string) string {
	t.Helper()
	v, ok := s.vars[name]
	if !ok {
		t.Fatalf("s.yaml: vars.%s is missing", name)
	}
	return mustString(t, "s.yaml vars."+name, v)
}

func resolveVars(t *testing.T, vars map[string]any, v any) any {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = resolveVars(t, vars, e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = resolveVars(t, vars, e)
		}
		return out
	case string:
		// A whole-string reference keeps the variable's type.
		if m := varRef.FindStringSubmatch(v); m != nil && m[0] == v {
			val, ok := vars[m[1]]
			if !ok {
				t.Fatalf("s.yaml: ${vars.%s} is not in vars", m[1])
			}
			return val
		}
		out := varRef.ReplaceAllStringFunc(v, func(ref string) string {
			name := varRef.FindStringSubmatch(ref)[1]
			val, ok := vars[name]
			if !ok {
				t.Fatalf("s.yaml: ${vars.%s} is not in vars", name)
			}
			return fmt.Sprint(val)
		})
		if strings.Contains(out, "${") {
			t.Fatalf("s.yaml: unresolved reference in %q", out)
		}
		return out
	default:
		return v
	}
}

// triggersByType returns s.yaml's triggers keyed by triggerType.
func triggersByType(t *testing.T, props map[string]any) map[string]map[string]any {
	t.Helper()
	list, ok := props["triggers"].([]any)
	if !ok {
		t.Fatal("s.yaml: props.triggers is not a list")
	}
	out := map[string]map[string]any{}
	for i, tr := range list {
		m := mustMap(t, fmt.Sprintf("s.yaml triggers[%d]", i), tr)
		typ := mustString(t, "triggerType", m["triggerType"])
		if _, dup := out[typ]; dup {
			t.Fatalf("s.yaml: two %s triggers", typ)
		}
		out[typ] = m
	}
	return out
}

// --- template.yaml ----------------------------------------------------------

type rosTemplate struct {
	raw        map[string]any
	parameters map[string]any
	resources  map[string]map[string]any
}

func loadTemplate(t *testing.T) *rosTemplate {
	t.Helper()
	raw := readYAML(t, repoPath("template.yaml"))
	tpl := &rosTemplate{raw: raw, resources: map[string]map[string]any{}}
	tpl.parameters, _ = raw["Parameters"].(map[string]any)
	res := mustMap(t, "template.yaml Resources", mustGet(t, "template.yaml", raw, "Resources"))
	for name, r := range res {
		tpl.resources[name] = mustMap(t, "template.yaml Resources."+name, r)
	}
	return tpl
}

// ofType returns the names of the resources of one type, sorted.
func (tpl *rosTemplate) ofType(typ string) []string {
	var names []string
	for name, r := range tpl.resources {
		if r["Type"] == typ {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func (tpl *rosTemplate) one(t *testing.T, typ string) (string, map[string]any) {
	t.Helper()
	names := tpl.ofType(typ)
	if len(names) != 1 {
		t.Fatalf("template.yaml: want one %s, got %v", typ, names)
	}
	return names[0], tpl.props(t, names[0])
}

func (tpl *rosTemplate) props(t *testing.T, name string) map[string]any {
	t.Helper()
	p, ok := tpl.resources[name]["Properties"]
	if !ok {
		return map[string]any{}
	}
	return mustMap(t, "template.yaml "+name+".Properties", p)
}

// paramDefault is a parameter's Default, for reading the template the way a
// stack created with default values would see it.
func (tpl *rosTemplate) paramDefault(t *testing.T, name string) (any, bool) {
	t.Helper()
	p, ok := tpl.parameters[name]
	if !ok {
		t.Fatalf("template.yaml: parameter %s is missing", name)
	}
	d, ok := mustMap(t, "parameter "+name, p)["Default"]
	return d, ok
}

// subPattern evaluates a string or {"Fn::Sub": string} with the given values
// for ${Name}.
func subPattern(t *testing.T, v any, values map[string]string) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		m := mustMap(t, "Fn::Sub", v)
		s = mustString(t, "Fn::Sub", m["Fn::Sub"])
	}
	return regexp.MustCompile(`\$\{([A-Za-z0-9_:]+)\}`).ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		val, ok := values[name]
		if !ok {
			t.Fatalf("no value for %s in %q", ref, s)
		}
		return val
	})
}

// --- RAM policies -----------------------------------------------------------

// policyActions returns every Action of a RAM policy document, failing on
// Deny statements (the policies here only grant).
func policyActions(t *testing.T, what string, doc any) []string {
	t.Helper()
	stmts, ok := mustMap(t, what, doc)["Statement"].([]any)
	if !ok || len(stmts) == 0 {
		t.Fatalf("%s: no Statement list", what)
	}
	var actions []string
	for i, st := range stmts {
		sm := mustMap(t, fmt.Sprintf("%s Statement[%d]", what, i), st)
		if sm["Effect"] != "Allow" {
			t.Errorf("%s Statement[%d]: Effect %v, want Allow", what, i, sm["Effect"])
		}
		switch a := sm["Action"].(type) {
		case string:
			actions = append(actions, a)
		case []any:
			for _, e := range a {
				actions = append(actions, mustString(t, what+" Action", e))
			}
		default:
			t.Fatalf("%s Statement[%d]: Action is %T", what, i, a)
		}
		if _, ok := sm["Resource"]; !ok {
			t.Errorf("%s Statement[%d]: no Resource", what, i)
		}
	}
	return actions
}

// codeService reports whether an action belongs to a service the function's
// code calls (as opposed to FC writing logs or failed events with the role).
func codeService(action string) bool {
	return strings.HasPrefix(action, "sae:") || strings.HasPrefix(action, "cr:") || strings.HasPrefix(action, "kms:")
}

// platformActions are what Function Compute itself does with the function's
// role: deliver logs (logConfig) and failed invocations to an MNS queue
// (asyncInvokeConfig.destinationConfig.onFailure).
var platformActions = setOf("log:PostLogStoreLogs", "mns:SendMessage")

// templateRoleActions returns the actions granted to the function's role in
// template.yaml: managed policies attached to it and its inline Policies.
// Policies under a Condition (optional grants) are left out.
func templateRoleActions(t *testing.T, tpl *rosTemplate) []string {
	t.Helper()
	roleName, role := tpl.one(t, "ALIYUN::RAM::Role")
	var actions []string
	if inline, ok := role["Policies"].([]any); ok {
		for i, p := range inline {
			doc := mustGet(t, fmt.Sprintf("Role Policies[%d]", i), p, "PolicyDocument")
			actions = append(actions, policyActions(t, "Role inline policy", doc)...)
		}
	}
	for _, name := range tpl.ofType("ALIYUN::RAM::ManagedPolicy") {
		if _, conditional := tpl.resources[name]["Condition"]; conditional {
			continue // optional grants: TestRAMPolicies checks each
		}
		p := tpl.props(t, name)
		roles, _ := p["Roles"].([]any)
		attached := false
		for _, r := range roles {
			b, _ := json.Marshal(r)
			if strings.Contains(string(b), `"`+roleName+`"`) {
				attached = true
			}
		}
		if !attached {
			t.Errorf("template.yaml: ManagedPolicy %s is not attached to the role %s", name, roleName)
			continue
		}
		actions = append(actions, policyActions(t, "ManagedPolicy "+name, mustGet(t, name, p, "PolicyDocument"))...)
	}
	for _, name := range tpl.ofType("ALIYUN::RAM::AttachPolicyToRole") {
		t.Errorf("template.yaml: %s attaches a policy the tests cannot read; use a ManagedPolicy with Roles", name)
	}
	return actions
}
