package deploy_test

import (
	"fmt"
	"testing"
)

// customRuntimes are FC 3.0's custom runtimes: the only ones that still have
// instance concurrency ("Standard runtimes of Function Compute no longer
// support the instance concurrency feature. Instances that run in custom
// runtimes still support the concurrency feature.", FC 3.0's feature
// updates). go1, which fc-runtime-go-sdk serves, is a standard runtime.
var customRuntimes = setOf("custom", "custom.debian10", "custom.debian11", "custom.debian12")

// instanceConcurrencyProblem says why a function's instance concurrency
// setting is wrong, or "" when it is right: absent, unless the runtime is a
// custom one.
func instanceConcurrencyProblem(runtime string, concurrency any, set bool) string {
	if !set || customRuntimes[runtime] {
		return ""
	}
	return fmt.Sprintf("instance concurrency %v with runtime %s: standard runtimes have none (every invocation has an instance of its own)", concurrency, runtime)
}

func TestInstanceConcurrencyRule(t *testing.T) {
	for _, c := range []struct {
		runtime string
		set     bool
		ok      bool
	}{
		{"go1", false, true}, {"go1", true, false}, {"python3.10", true, false},
		{"custom", true, true}, {"custom.debian10", true, true}, {"custom.debian11", true, true}, {"custom.debian12", true, true},
		{"custom.debian12", false, true},
	} {
		if got := instanceConcurrencyProblem(c.runtime, 20, c.set) == ""; got != c.ok {
			t.Errorf("runtime %s, instance concurrency set %v: accepted %v, want %v", c.runtime, c.set, got, c.ok)
		}
	}
}

// The function runs one invocation at a time: overlapping invocations would
// each get an instance of their own (go1 has no instance concurrency), with
// its own quota pacer and locks. Reserved concurrency 1 caps the
// function at one instance; timer and event invocations wait in FC's queue.
func TestOneRunAtATime(t *testing.T) {
	sp := loadSYAML(t).function(t)
	tpl := loadTemplate(t)
	fnName, fn := tpl.one(t, "ALIYUN::FC3::Function")

	v, set := sp["instanceConcurrency"]
	if p := instanceConcurrencyProblem(fmt.Sprint(sp["runtime"]), v, set); p != "" {
		t.Errorf("s.yaml: %s", p)
	}
	v, set = fn["InstanceConcurrency"]
	if p := instanceConcurrencyProblem(fmt.Sprint(fn["Runtime"]), v, set); p != "" {
		t.Errorf("template.yaml %s: %s", fnName, p)
	}

	if got := mustInt(t, mustGet(t, "s.yaml concurrencyConfig", sp, "concurrencyConfig", "reservedConcurrency")); got != 1 {
		t.Errorf("s.yaml concurrencyConfig.reservedConcurrency %d, want 1: more lets runs overlap in separate instances", got)
	}
	name, cc := tpl.one(t, "ALIYUN::FC3::ConcurrencyConfig")
	if got := mustInt(t, cc["ReservedConcurrency"]); got != 1 {
		t.Errorf("template.yaml %s.ReservedConcurrency %d, want 1", name, got)
	}
	if _, conditional := tpl.resources[name]["Condition"]; conditional {
		t.Errorf("template.yaml %s has a Condition: the cap must always be there", name)
	}
	if ref := fmt.Sprint(cc["FunctionName"]); ref != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{fnName, "FunctionName"}}) {
		t.Errorf("template.yaml %s.FunctionName %s does not name the function", name, ref)
	}
	// No trigger fires before the cap is in place.
	for _, tr := range tpl.ofType("ALIYUN::FC3::Trigger") {
		var deps []any
		switch d := tpl.resources[tr]["DependsOn"].(type) {
		case string:
			deps = []any{d}
		case []any:
			deps = d
		}
		found := false
		for _, d := range deps {
			found = found || fmt.Sprint(d) == name
		}
		if !found {
			t.Errorf("template.yaml %s does not depend on %s: it could invoke before the cap of one run", tr, name)
		}
	}
}
