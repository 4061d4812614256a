package deploy_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// What the function is (docs/deploy.md): the deploy files must say the same.
const (
	wantRuntime    = "go1"
	wantHandler    = "main"
	wantCodeZip    = "./dist/function.zip"
	wantConfigName = "rotator.yaml" // the packager's name for the shipped configuration
)

func compileSchema(t *testing.T, c *jsonschema.Compiler, loc string) *jsonschema.Schema {
	t.Helper()
	sch, err := c.Compile(loc)
	if err != nil {
		t.Fatalf("compile %s: %v", loc, err)
	}
	return sch
}

func TestSYAMLValidatesAgainstFC3Schema(t *testing.T) {
	schemaPath, err := filepath.Abs(testdataPath(t, "fc3-props.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	props := compileSchema(t, c, schemaPath)
	// triggerConfig is an anyOf of every trigger kind in the schema, which a
	// half-written config slips through; check each against its own kind.
	byKind := map[string]*jsonschema.Schema{
		"timer":       compileSchema(t, c, schemaPath+"#/definitions/ITimerTriggerConfig"),
		"eventbridge": compileSchema(t, c, schemaPath+"#/definitions/IEventBridge"),
	}

	s := loadSYAML(t)
	if s.raw["edition"] != "3.0.0" {
		t.Errorf("s.yaml: edition %v, want 3.0.0", s.raw["edition"])
	}
	for name, p := range s.props {
		if err := props.Validate(p); err != nil {
			t.Errorf("s.yaml resources.%s.props do not match fc3-props.schema.json:\n%v", name, err)
		}
		for kind, tr := range triggersByType(t, p) {
			sch, ok := byKind[kind]
			if !ok {
				t.Errorf("s.yaml: unexpected %s trigger", kind)
				continue
			}
			if err := sch.Validate(tr["triggerConfig"]); err != nil {
				t.Errorf("s.yaml: %s triggerConfig:\n%v", kind, err)
			}
		}
	}
}

func TestSYAMLBuildsAndShipsThePackage(t *testing.T) {
	s := loadSYAML(t)
	p := s.function(t)
	if p["code"] != wantCodeZip {
		t.Errorf("s.yaml: code %v, want %s (what the pre-deploy action writes)", p["code"], wantCodeZip)
	}
	resources := mustMap(t, "resources", s.raw["resources"])
	var runs []string
	for _, r := range resources {
		steps, _ := mustGet(t, "s.yaml resource", r, "actions", "pre-deploy").([]any)
		for _, st := range steps {
			if run, ok := mustMap(t, "pre-deploy step", st)["run"].(string); ok {
				runs = append(runs, run)
			}
		}
	}
	found := false
	for _, run := range runs {
		f := strings.Fields(run)
		if len(f) >= 3 && f[0] == "go" && f[1] == "run" && f[2] == "./cmd/package" {
			found = true
			out := flagValue(f, "-o")
			if out == "" || filepath.Clean(out) != filepath.Clean(wantCodeZip) {
				t.Errorf("s.yaml pre-deploy %q: -o %q, want the code path %s", run, out, wantCodeZip)
			}
			if cfg := flagValue(f, "-config"); cfg != "" && filepath.Clean(cfg) != filepath.Join("deploy", "rotator.yaml") {
				t.Errorf("s.yaml pre-deploy %q ships %s, want deploy/rotator.yaml", run, cfg)
			}
		}
	}
	if !found {
		t.Errorf("s.yaml: no pre-deploy action runs go run ./cmd/package (have %q)", runs)
	}
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

type rosTypeSpec struct {
	Properties []string `json:"properties"`
	Required   []string `json:"required"`
}

func TestTemplateUsesOnlyKnownROSProperties(t *testing.T) {
	b, err := os.ReadFile(testdataPath(t, "ros-resources.json"))
	if err != nil {
		t.Fatal(err)
	}
	var specs map[string]rosTypeSpec
	if err := json.Unmarshal(b, &specs); err != nil {
		t.Fatalf("ros-resources.json: %v", err)
	}
	tpl := loadTemplate(t)
	if v := tpl.raw["ROSTemplateFormatVersion"]; v != "2015-09-01" {
		t.Errorf("template.yaml: ROSTemplateFormatVersion %v, want 2015-09-01", v)
	}
	if _, ok := tpl.raw["Transform"]; ok {
		t.Error("template.yaml: Transform (the FC 2.0 serverless format) does not know go1; use ALIYUN::FC3 resources")
	}
	for _, name := range sortedKeys(tpl.resources) {
		typ, _ := tpl.resources[name]["Type"].(string)
		spec, ok := specs[typ]
		if !ok {
			t.Errorf("template.yaml %s: type %q is not in ros-resources.json", name, typ)
			continue
		}
		known := setOf(spec.Properties...)
		props := tpl.props(t, name)
		for _, p := range sortedKeys(props) {
			if !known[p] {
				t.Errorf("template.yaml %s (%s): property %s is not one of %v", name, typ, p, spec.Properties)
			}
		}
		for _, r := range spec.Required {
			if _, ok := props[r]; !ok {
				t.Errorf("template.yaml %s (%s): required property %s is missing", name, typ, r)
			}
		}
	}
	for _, typ := range []string{"ALIYUN::FC3::Function", "ALIYUN::FC3::AsyncInvokeConfig", "ALIYUN::RAM::Role"} {
		if n := len(tpl.ofType(typ)); n != 1 {
			t.Errorf("template.yaml: %d resources of type %s, want 1", n, typ)
		}
	}
}

// TestTemplateReferencesResolve catches a Ref, Fn::GetAtt, Fn::Sub, Fn::If or
// DependsOn that names nothing, which ROS would only refuse at stack creation.
func TestTemplateReferencesResolve(t *testing.T) {
	tpl := loadTemplate(t)
	conditions, _ := tpl.raw["Conditions"].(map[string]any)
	names := func(name string) bool {
		_, p := tpl.parameters[name]
		_, r := tpl.resources[name]
		return p || r || strings.HasPrefix(name, "ALIYUN::")
	}
	subRef := regexp.MustCompile(`\$\{([^}!]+)\}`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				switch k {
				case "Ref":
					if s, _ := e.(string); !names(s) {
						t.Errorf("template.yaml %s: Ref %v names no parameter or resource", path, e)
					}
				case "Fn::GetAtt":
					l, _ := e.([]any)
					if len(l) != 2 || tpl.resources[fmt.Sprint(l[0])] == nil {
						t.Errorf("template.yaml %s: Fn::GetAtt %v names no resource", path, e)
					}
				case "Fn::Sub":
					s, _ := e.(string)
					for _, m := range subRef.FindAllStringSubmatch(s, -1) {
						if !names(m[1]) {
							t.Errorf("template.yaml %s: Fn::Sub ${%s} names no parameter or resource", path, m[1])
						}
					}
				case "Fn::If":
					l, _ := e.([]any)
					if len(l) != 3 || conditions[fmt.Sprint(l[0])] == nil {
						t.Errorf("template.yaml %s: Fn::If %v names no condition", path, l)
					}
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	for name, r := range tpl.resources {
		walk(name, r)
		var deps []any
		switch d := r["DependsOn"].(type) {
		case string:
			deps = []any{d}
		case []any:
			deps = d
		}
		for _, d := range deps {
			if tpl.resources[fmt.Sprint(d)] == nil {
				t.Errorf("template.yaml %s: DependsOn %v names no resource", name, d)
			}
		}
	}
	for name, r := range tpl.resources {
		if c, ok := r["Condition"]; ok && conditions[fmt.Sprint(c)] == nil {
			t.Errorf("template.yaml %s: Condition %v names no condition", name, c)
		}
	}
	walk("Outputs", tpl.raw["Outputs"])
	walk("Conditions", conditions)
	outputs, _ := tpl.raw["Outputs"].(map[string]any)
	for _, o := range []string{"FunctionName", "RoleArn"} {
		if _, ok := outputs[o]; !ok {
			t.Errorf("template.yaml: output %s is missing", o)
		}
	}
}

// codeEnvNames returns every quoted UPPER_SNAKE string in the Go sources of
// function/, rotation/ and internal/: the environment variables the code can
// read, found by scanning so the test follows the code.
func codeEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	quoted := regexp.MustCompile(`"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"`)
	names := map[string]bool{}
	for _, dir := range []string{"function", "rotation", "internal"} {
		root := repoPath(dir)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
				names[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// templateEnvBranches returns the Function's environment variable maps: one,
// or one per branch of an Fn::If.
func templateEnvBranches(t *testing.T, env any) []map[string]any {
	t.Helper()
	m := mustMap(t, "EnvironmentVariables", env)
	if l, ok := m["Fn::If"].([]any); ok {
		if len(l) != 3 {
			t.Fatalf("EnvironmentVariables: Fn::If needs 3 items, has %d", len(l))
		}
		return append(templateEnvBranches(t, l[1]), templateEnvBranches(t, l[2])...)
	}
	return []map[string]any{m}
}

func TestEnvironmentVariablesAreReadByTheCode(t *testing.T) {
	code := codeEnvNames(t)
	s := loadSYAML(t)
	sEnv := mustMap(t, "s.yaml environmentVariables", s.function(t)["environmentVariables"])
	_, fn := loadTemplate(t).one(t, "ALIYUN::FC3::Function")
	branches := templateEnvBranches(t, fn["EnvironmentVariables"])

	check := func(where string, env map[string]any) {
		for _, name := range sortedKeys(env) {
			if strings.HasPrefix(name, "FC_") {
				t.Errorf("%s: %s: FC_* is reserved for Function Compute", where, name)
			}
			if !code[name] {
				t.Errorf("%s: %s is not read by the code under function/, rotation/ or internal/", where, name)
			}
		}
		// The function refuses to start with neither or both.
		_, inline := env["ROTATOR_CONFIG"]
		_, file := env["ROTATOR_CONFIG_FILE"]
		if inline == file {
			t.Errorf("%s: set exactly one of ROTATOR_CONFIG and ROTATOR_CONFIG_FILE (have %v)", where, sortedKeys(env))
		}
	}
	check("s.yaml", sEnv)
	for i, b := range branches {
		check(fmt.Sprintf("template.yaml EnvironmentVariables (branch %d)", i), b)
	}

	// The shipped file is what ROTATOR_CONFIG_FILE names.
	if v := sEnv["ROTATOR_CONFIG_FILE"]; v != wantConfigName {
		t.Errorf("s.yaml: ROTATOR_CONFIG_FILE %v, want %s (the packaged configuration)", v, wantConfigName)
	}
	if d, _ := loadTemplate(t).paramDefault(t, "ConfigFile"); d != wantConfigName {
		t.Errorf("template.yaml: ConfigFile default %v, want %s", d, wantConfigName)
	}
	// The two files set the same variables (the template may offer inline
	// configuration as the alternative to the file).
	names := map[string]bool{}
	for _, b := range branches {
		for k := range b {
			names[k] = true
		}
	}
	delete(names, "ROTATOR_CONFIG")
	if !equalSets(names, setOf(sortedKeys(sEnv)...)) {
		t.Errorf("environment variables differ: s.yaml %v, template.yaml %v", sortedKeys(sEnv), sortedKeys(names))
	}
}
