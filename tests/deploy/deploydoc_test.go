package deploy_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// deployDoc is the deploy guide that the tests of this package hold to the
// deploy files.
const deployDoc = "docs/deploy.md"

// deploySection returns the deploy guide's text between the deploy markers.
func deploySection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(deployDoc))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- deploy:begin -->")
	section, _, ok2 := strings.Cut(rest, "<!-- deploy:end -->")
	if !ok || !ok2 {
		t.Fatal(deployDoc + ": the <!-- deploy:begin --> / <!-- deploy:end --> markers are missing")
	}
	return section
}

// TestDeployDocMatchesTheDeployFiles keeps the deploy instructions in step
// with the files they describe: names, parameters, commands and numbers.
func TestDeployDocMatchesTheDeployFiles(t *testing.T) {
	doc := deploySection(t)
	s := loadSYAML(t)
	sp := s.function(t)
	tpl := loadTemplate(t)

	// Every var of s.yaml is explained, and only those.
	for name := range s.vars {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf(deployDoc+": s.yaml var %s is not described", name)
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z]+)`(?:, `([A-Za-z]+)`)? \\|").FindAllStringSubmatch(doc, -1) {
		for _, name := range m[1:] {
			if _, ok := s.vars[name]; name != "" && !ok {
				t.Errorf(deployDoc+": var %s is not in s.yaml", name)
			}
		}
	}

	// CreateStack passes only template parameters and every one without a default.
	passed := map[string]bool{}
	for _, m := range regexp.MustCompile(`ParameterKey (\w+)`).FindAllStringSubmatch(doc, -1) {
		passed[m[1]] = true
		if _, ok := tpl.parameters[m[1]]; !ok {
			t.Errorf(deployDoc+": CreateStack passes %s, which template.yaml does not declare", m[1])
		}
	}
	for name, p := range tpl.parameters {
		if _, hasDefault := mustMap(t, name, p)["Default"]; !hasDefault && !passed[name] {
			t.Errorf(deployDoc+": CreateStack does not pass the required parameter %s", name)
		}
		if !strings.Contains(doc, "`"+name+"`") && !passed[name] {
			t.Errorf(deployDoc+": template parameter %s is not mentioned", name)
		}
	}
	obj, _ := tpl.paramDefault(t, "CodeObject")
	if !regexp.MustCompile(`oss://<bucket>/` + regexp.QuoteMeta(fmt.Sprint(obj)) + `\s`).MatchString(doc) {
		t.Errorf(deployDoc+": the OSS upload does not use CodeObject's default %v", obj)
	}

	// Commands and names taken from the files.
	fn := s.varString(t, "functionName")
	triggers := triggersByType(t, sp)
	want := []string{
		"go run ./cmd/package -o dist/function.zip -config deploy/rotator.yaml",
		"/2023-03-30/functions/" + fn + "/invocations",
		"`" + fmt.Sprint(triggers["timer"]["triggerName"]) + "`",
		"`" + fmt.Sprint(triggers["eventbridge"]["triggerName"]) + "`",
		"`" + fmt.Sprint(mustGet(t, "timer", triggers["timer"], "triggerConfig", "cronExpression")) + "`",
		fmt.Sprintf("%v s timeout", sp["timeout"]),
		fmt.Sprintf("%v retries", mustGet(t, "async", sp, "asyncInvokeConfig", "maxAsyncRetryAttempts")),
		fmt.Sprintf("%v s dropped", mustGet(t, "async", sp, "asyncInvokeConfig", "maxAsyncEventAgeInSeconds")),
		"`ROTATOR_CONFIG_FILE: " + wantConfigName + "`",
	}
	filter := parseFilter(t, "s.yaml", mustString(t, "pattern",
		mustGet(t, "eventbridge", triggers["eventbridge"], "triggerConfig", "eventRuleFilterPattern")))
	for _, typ := range append(filter.Type, filter.Source...) {
		want = append(want, "`"+typ+"`")
	}
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf(deployDoc+": %q is missing or differs from the deploy files", w)
		}
	}
	for _, f := range []string{"ram-trust-policy.json", "ram-policy.json", "ram-platform-policy.json"} {
		if _, err := os.Stat(repoPath("deploy", f)); err != nil || !strings.Contains(doc, "deploy/"+f) {
			t.Errorf(deployDoc+": deploy/%s is not both shipped and used", f)
		}
	}

	// Environment variables named in the deploy guide are ones the code reads.
	code := codeEnvNames(t)
	for _, m := range regexp.MustCompile(`\b(ROTATOR_[A-Z_]+|ALIBABA_CLOUD_[A-Z_]+)\b`).FindAllString(doc, -1) {
		if !code[m] && !strings.HasSuffix(m, "_") {
			t.Errorf(deployDoc+": %s is not read by the code", m)
		}
	}
}
