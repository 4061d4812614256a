package deploy_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// What the function is (README, "Deploy"): the deploy files must say the same.
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

// timerTriggers returns the cron expressions of both files' timer triggers.
func timerExpressions(t *testing.T) (sExpr, tplExpr string) {
	t.Helper()
	s := loadSYAML(t)
	timer := triggersByType(t, s.function(t))["timer"]
	sExpr = mustString(t, "s.yaml cronExpression", mustGet(t, "s.yaml timer", timer, "triggerConfig", "cronExpression"))
	tpl := loadTemplate(t)
	for _, name := range tpl.ofType("ALIYUN::FC3::Trigger") {
		p := tpl.props(t, name)
		if p["TriggerType"] == "timer" {
			tplExpr = mustString(t, "template cronExpression", mustGet(t, name, p, "TriggerConfig", "cronExpression"))
		}
	}
	return sExpr, tplExpr
}

func TestTimerIntervalFitsTheTokenLifetime(t *testing.T) {
	sExpr, tplExpr := timerExpressions(t)
	if sExpr != tplExpr {
		t.Errorf("timer: s.yaml %q, template.yaml %q", sExpr, tplExpr)
	}
	interval, err := timerInterval(sExpr)
	if err != nil {
		t.Fatalf("timer %q: %v", sExpr, err)
	}
	// Two runs before a token expires: a failed run gets another chance.
	if half := time.Duration(tokenLifetime) * time.Second / 2; interval >= half {
		t.Errorf("timer runs every %v; a token lives %v, so the interval must be under %v", interval, time.Duration(tokenLifetime)*time.Second, half)
	}
	cfg := readYAML(t, repoPath("deploy", "rotator.yaml"))
	s := mustString(t, "deploy/rotator.yaml schedule.interval", mustGet(t, "deploy/rotator.yaml", cfg, "schedule", "interval"))
	want, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("deploy/rotator.yaml schedule.interval %q: %v", s, err)
	}
	if want != interval {
		t.Errorf("deploy/rotator.yaml schedule.interval %v, timer %q runs every %v", want, sExpr, interval)
	}
}

func TestTimerIntervalParser(t *testing.T) {
	for expr, want := range map[string]time.Duration{
		"@every 20m":                           20 * time.Minute,
		"@every 1h30m":                         90 * time.Minute,
		"0 */20 * * * *":                       20 * time.Minute,
		"0 0/15 * * * ?":                       15 * time.Minute,
		"0 5,25,45 * * * *":                    20 * time.Minute,
		"CRON_TZ=Asia/Shanghai 0 */10 * * * *": 10 * time.Minute,
		"0 7 * * * *":                          time.Hour,
		"0 0 */2 * * *":                        2 * time.Hour,
	} {
		got, err := timerInterval(expr)
		if err != nil || got != want {
			t.Errorf("timerInterval(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{"", "@daily", "0 */7 * * * *", "0 0 0 * * *", "*/20 * * * *"} {
		if got, err := timerInterval(bad); err == nil {
			t.Errorf("timerInterval(%q) = %v, want an error", bad, got)
		}
	}
}

// timerInterval returns the period of an FC timer expression: "@every D" or a
// six-field cron (second minute hour day month weekday) that fires at a fixed
// step. Anything else is an error, so a schedule the test cannot judge fails
// loudly instead of passing.
func timerInterval(expr string) (time.Duration, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "CRON_TZ=") {
		_, expr, _ = strings.Cut(expr, " ")
	}
	if d, ok := strings.CutPrefix(expr, "@every "); ok {
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("bad @every duration %q", d)
		}
		return v, nil
	}
	f := strings.Fields(expr)
	if len(f) != 6 {
		return 0, fmt.Errorf("want @every or six cron fields, got %q", expr)
	}
	every := func(s string) bool { return s == "*" || s == "?" }
	if _, err := strconv.Atoi(f[0]); err != nil || !every(f[3]) || !every(f[4]) || !every(f[5]) {
		return 0, fmt.Errorf("only a fixed second and every day are supported: %q", expr)
	}
	minutes, err := fieldStep(f[1], 60)
	if err != nil {
		return 0, fmt.Errorf("minute field: %v", err)
	}
	if f[2] == "*" {
		return time.Duration(minutes) * time.Minute, nil
	}
	if minutes != 60 {
		return 0, fmt.Errorf("a minute step with a restricted hour field is uneven: %q", expr)
	}
	hours, err := fieldStep(f[2], 24)
	if err != nil || hours == 24 {
		return 0, fmt.Errorf("hour field %q does not repeat within a day", f[2])
	}
	return time.Duration(hours) * time.Hour, nil
}

// fieldStep returns the even gap between firings of one cron field with
// range size n ("*/20", "0/20", "5,25,45" in 60 give 20; "7" gives 60).
func fieldStep(field string, n int) (int, error) {
	if start, step, ok := strings.Cut(field, "/"); ok {
		s, err := strconv.Atoi(step)
		if err != nil || s <= 0 || n%s != 0 {
			return 0, fmt.Errorf("step %q does not divide %d evenly", field, n)
		}
		if start != "*" {
			if v, err := strconv.Atoi(start); err != nil || v >= s {
				return 0, fmt.Errorf("start of %q must be below its step", field)
			}
		}
		return s, nil
	}
	var vals []int
	for _, p := range strings.Split(field, ",") {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v >= n {
			return 0, fmt.Errorf("unsupported field %q", field)
		}
		vals = append(vals, v)
	}
	sort.Ints(vals)
	gap := n / len(vals)
	for i, v := range vals {
		next := n + vals[0]
		if i+1 < len(vals) {
			next = vals[i+1]
		}
		if next-v != gap {
			return 0, fmt.Errorf("uneven firings in %q", field)
		}
	}
	return gap, nil
}

// eventFilter is the parsed eventRuleFilterPattern.
type eventFilter struct {
	Source []string `json:"source"`
	Type   []string `json:"type"`
	Data   struct {
		InstanceID []string `json:"InstanceId"`
	} `json:"data"`
}

func parseFilter(t *testing.T, where, pattern string) eventFilter {
	t.Helper()
	var f eventFilter
	if err := json.Unmarshal([]byte(pattern), &f); err != nil {
		t.Fatalf("%s: eventRuleFilterPattern is not JSON: %v\n%s", where, err, pattern)
	}
	return f
}

func TestDeployFilesAgree(t *testing.T) {
	s := loadSYAML(t)
	sp := s.function(t)
	tpl := loadTemplate(t)
	fnName, fn := tpl.one(t, "ALIYUN::FC3::Function")

	// The function itself.
	for _, c := range []struct{ s, tpl string }{
		{"runtime", "Runtime"}, {"handler", "Handler"}, {"timeout", "Timeout"},
		{"memorySize", "MemorySize"}, {"cpu", "Cpu"}, {"diskSize", "DiskSize"},
		{"internetAccess", "InternetAccess"},
	} {
		if fmt.Sprint(sp[c.s]) != fmt.Sprint(fn[c.tpl]) {
			t.Errorf("%s: s.yaml %v, template.yaml %s.%s %v", c.s, sp[c.s], fnName, c.tpl, fn[c.tpl])
		}
	}
	if sp["runtime"] != wantRuntime || sp["handler"] != wantHandler {
		t.Errorf("runtime/handler %v/%v, want %s/%s", sp["runtime"], sp["handler"], wantRuntime, wantHandler)
	}
	if fn["Code"] == nil || fn["Role"] == nil || fn["LogConfig"] == nil {
		t.Errorf("template.yaml %s: Code, Role and LogConfig are needed", fnName)
	}
	if lc, _ := sp["logConfig"].(map[string]any); lc["project"] != s.varString(t, "logProject") || lc["logstore"] != s.varString(t, "logStore") {
		t.Errorf("s.yaml logConfig %v does not use vars.logProject / vars.logStore", sp["logConfig"])
	}

	// Async invocation: the same retries, age and a failure destination.
	_, async := tpl.one(t, "ALIYUN::FC3::AsyncInvokeConfig")
	sa := mustMap(t, "s.yaml asyncInvokeConfig", sp["asyncInvokeConfig"])
	for _, c := range []struct{ s, tpl string }{
		{"maxAsyncRetryAttempts", "MaxAsyncRetryAttempts"}, {"maxAsyncEventAgeInSeconds", "MaxAsyncEventAgeInSeconds"},
	} {
		if sa[c.s] == nil || fmt.Sprint(sa[c.s]) != fmt.Sprint(async[c.tpl]) {
			t.Errorf("%s: s.yaml %v, template.yaml %v", c.s, sa[c.s], async[c.tpl])
		}
	}
	if d, _ := get(sa, "destinationConfig", "onFailure", "destination"); d != s.varString(t, "failureDestination") {
		t.Errorf("s.yaml: onFailure destination %v, want vars.failureDestination", d)
	}
	if _, ok := get(async, "DestinationConfig", "OnFailure", "Destination"); !ok {
		t.Error("template.yaml: AsyncInvokeConfig has no DestinationConfig.OnFailure.Destination")
	}
	if age := mustInt(t, sa["maxAsyncEventAgeInSeconds"]); age <= mustInt(t, sp["timeout"]) {
		t.Errorf("maxAsyncEventAgeInSeconds %d must exceed the timeout %v, or a retry never runs", age, sp["timeout"])
	}

	// Triggers: a timer and an EventBridge trigger in both, with one filter.
	sTriggers := triggersByType(t, sp)
	tplTriggers := map[string]map[string]any{}
	for _, name := range tpl.ofType("ALIYUN::FC3::Trigger") {
		p := tpl.props(t, name)
		typ := mustString(t, name+".TriggerType", p["TriggerType"])
		if _, dup := tplTriggers[typ]; dup {
			t.Errorf("template.yaml: two %s triggers", typ)
		}
		tplTriggers[typ] = p
	}
	want := setOf("timer", "eventbridge")
	if !equalSets(setOf(sortedKeys(sTriggers)...), want) || !equalSets(setOf(sortedKeys(tplTriggers)...), want) {
		t.Fatalf("trigger kinds: s.yaml %v, template.yaml %v, want %v", sortedKeys(sTriggers), sortedKeys(tplTriggers), sortedKeys(want))
	}
	for kind, st := range sTriggers {
		tt := tplTriggers[kind]
		if st["triggerName"] != tt["TriggerName"] || fmt.Sprint(st["qualifier"]) != fmt.Sprint(tt["Qualifier"]) {
			t.Errorf("%s trigger: s.yaml %v/%v, template.yaml %v/%v", kind, st["triggerName"], st["qualifier"], tt["TriggerName"], tt["Qualifier"])
		}
		sc := mustMap(t, "s.yaml triggerConfig", st["triggerConfig"])
		tc := mustMap(t, "template.yaml TriggerConfig", tt["TriggerConfig"])
		for _, k := range sortedKeys(sc) {
			if k == "eventRuleFilterPattern" {
				continue
			}
			a, _ := json.Marshal(sc[k])
			b, _ := json.Marshal(tc[k])
			if string(a) != string(b) {
				t.Errorf("%s trigger %s: s.yaml %s, template.yaml %s", kind, k, a, b)
			}
		}
		if len(sc) != len(tc) {
			t.Errorf("%s trigger config keys: s.yaml %v, template.yaml %v", kind, sortedKeys(sc), sortedKeys(tc))
		}
	}

	instance := s.varString(t, "instanceId")
	sFilter := parseFilter(t, "s.yaml", mustString(t, "s.yaml eventRuleFilterPattern",
		mustGet(t, "s.yaml eventbridge", sTriggers["eventbridge"], "triggerConfig", "eventRuleFilterPattern")))
	const placeholder = "INSTANCE-ID-PARAMETER"
	tFilter := parseFilter(t, "template.yaml", subPattern(t,
		mustGet(t, "template.yaml eventbridge", tplTriggers["eventbridge"], "TriggerConfig", "eventRuleFilterPattern"),
		map[string]string{"InstanceId": placeholder}))
	if !equalSets(setOf(sFilter.Source...), setOf("acs.cr")) || !equalSets(setOf(tFilter.Source...), setOf("acs.cr")) {
		t.Errorf("event source: s.yaml %v, template.yaml %v, want [acs.cr]", sFilter.Source, tFilter.Source)
	}
	if len(sFilter.Type) == 0 || !equalSets(setOf(sFilter.Type...), setOf(tFilter.Type...)) {
		t.Errorf("event types: s.yaml %v, template.yaml %v", sFilter.Type, tFilter.Type)
	}
	for _, typ := range sFilter.Type {
		if !strings.HasPrefix(typ, "cr:") {
			t.Errorf("event type %q is not a Container Registry event", typ)
		}
	}
	if !equalSets(setOf(sFilter.Data.InstanceID...), setOf(instance)) {
		t.Errorf("s.yaml filter data.InstanceId %v, want [vars.instanceId] (%s)", sFilter.Data.InstanceID, instance)
	}
	if !equalSets(setOf(tFilter.Data.InstanceID...), setOf(placeholder)) {
		t.Errorf("template.yaml filter data.InstanceId %v, want [${InstanceId}]", tFilter.Data.InstanceID)
	}

	// The shipped configuration rotates the instance the events come from,
	// in the region the template names by default.
	cfg := readYAML(t, repoPath("deploy", "rotator.yaml"))
	targets, _ := cfg["targets"].([]any)
	found := false
	for _, tg := range targets {
		if id, _ := get(tg, "source", "instanceId"); id == instance {
			found = true
			if r, _ := get(tg, "source", "regionId"); r != s.varString(t, "region") {
				t.Errorf("deploy/rotator.yaml: %s in region %v, s.yaml vars.region %s", instance, r, s.varString(t, "region"))
			}
		}
	}
	if !found {
		t.Errorf("deploy/rotator.yaml: no target has the instance %s of s.yaml's event filter", instance)
	}
	if d, _ := tpl.paramDefault(t, "RegionId"); d != s.varString(t, "region") {
		t.Errorf("template.yaml RegionId default %v, s.yaml vars.region %s", d, s.varString(t, "region"))
	}
}

func mustInt(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("want a number, got %T (%v)", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("want an integer, got %v", n)
	}
	return i
}

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
	if a := policyActions(t, "deploy/ram-minting-role-policy.json", mint); len(a) != 1 || a[0] != "cr:GetAuthorizationToken" {
		t.Errorf("deploy/ram-minting-role-policy.json grants %v, want only cr:GetAuthorizationToken", a)
	}
	if b, _ := json.Marshal(mint); !strings.Contains(string(b), "instance/"+s.varString(t, "instanceId")) {
		t.Errorf("deploy/ram-minting-role-policy.json: no resource for s.yaml's instanceId")
	}
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
