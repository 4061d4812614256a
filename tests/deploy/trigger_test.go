package deploy_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// FC 3.0's EventBridge trigger structs (testdata has no schema for them;
// the API reference is the source, docs/cloud-apis.md cites it).
var (
	// DeliveryOption: concurrency and eventSchema, nothing else (no mode).
	deliveryOptionFields = setOf("concurrency", "eventSchema")
	// RunOptions' documented fields.
	runOptionsFields = setOf("batchWindow", "deadLetterQueue", "errorsTolerance", "mode", "retryStrategy")
)

// eventBridgeConfigs returns the EventBridge trigger's config of both files.
func eventBridgeConfigs(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	tr := triggersByType(t, loadSYAML(t).function(t))["eventbridge"]
	out["s.yaml"] = mustMap(t, "s.yaml eventbridge triggerConfig", tr["triggerConfig"])
	tpl := loadTemplate(t)
	for _, name := range tpl.ofType("ALIYUN::FC3::Trigger") {
		if p := tpl.props(t, name); p["TriggerType"] == "eventbridge" {
			out["template.yaml "+name] = mustMap(t, name+" TriggerConfig", p["TriggerConfig"])
		}
	}
	if len(out) != 2 {
		t.Fatalf("EventBridge triggers: %v, want one in each file", sortedKeys(out))
	}
	return out
}

// Events are invoked asynchronously, so they queue behind a run and get the
// async retries and failure destination; the current FC 3.0 reference says
// asyncInvocationType false is asynchronous (older pages said true).
func TestEventBridgeTriggerIsAsynchronousAndDocumented(t *testing.T) {
	for where, c := range eventBridgeConfigs(t) {
		if v, ok := c["asyncInvocationType"].(bool); !ok || v {
			t.Errorf("%s: asyncInvocationType %v, want false (asynchronous in FC 3.0's current reference)", where, c["asyncInvocationType"])
		}
		if v, _ := get(c, "eventSourceConfig", "eventSourceType"); v != "Default" {
			t.Errorf("%s: eventSourceType %v, want Default (ACR's events on the default bus)", where, v)
		}
		opt := mustMap(t, where+" deliveryOption", mustGet(t, where, c, "eventSinkConfig", "deliveryOption"))
		for _, k := range sortedKeys(opt) {
			if !deliveryOptionFields[k] {
				t.Errorf("%s: deliveryOption.%s is not a field of FC 3.0's DeliveryOption %v", where, k, sortedKeys(deliveryOptionFields))
			}
		}
		// The handler reads CloudEvents; RawData would hand it data alone.
		if opt["eventSchema"] != "CloudEvents" {
			t.Errorf("%s: deliveryOption.eventSchema %v, want CloudEvents", where, opt["eventSchema"])
		}
		run := mustMap(t, where+" runOptions", c["runOptions"])
		for _, k := range sortedKeys(run) {
			if !runOptionsFields[k] {
				t.Errorf("%s: runOptions.%s is not a field of FC 3.0's RunOptions %v", where, k, sortedKeys(runOptionsFields))
			}
		}
		// event-driven: one CloudEvent an invocation, and the mode that
		// serves the Default source (event-streaming does not).
		if run["mode"] != "event-driven" {
			t.Errorf("%s: runOptions.mode %v, want event-driven", where, run["mode"])
		}
	}
}

// condition evaluates a template condition the way a stack created with
// the parameters' defaults would: Fn::Equals, Fn::Not, Fn::And, Fn::Or and
// Ref to a parameter.
func (tpl *rosTemplate) condition(t *testing.T, name string) bool {
	t.Helper()
	conds, _ := tpl.raw["Conditions"].(map[string]any)
	c, ok := conds[name]
	if !ok {
		t.Fatalf("template.yaml: condition %s is missing", name)
	}
	return tpl.evalCondition(t, c)
}

func (tpl *rosTemplate) evalCondition(t *testing.T, v any) bool {
	t.Helper()
	m := mustMap(t, "condition", v)
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Fn::Equals":
			if len(args) != 2 {
				t.Fatalf("Fn::Equals needs two values: %v", args)
			}
			return tpl.value(t, args[0]) == tpl.value(t, args[1])
		case "Fn::Not":
			if len(args) != 1 {
				t.Fatalf("Fn::Not needs one condition: %v", args)
			}
			return !tpl.evalCondition(t, args[0])
		case "Fn::And", "Fn::Or":
			all, some := true, false
			for _, a := range args {
				b := tpl.evalCondition(t, a)
				all, some = all && b, some || b
			}
			if fn == "Fn::And" {
				return all
			}
			return some
		case "Condition":
			return tpl.condition(t, mustString(t, "Condition", arg))
		}
		t.Fatalf("condition function %s is not evaluated here", fn)
	}
	t.Fatalf("empty condition")
	return false
}

func (tpl *rosTemplate) value(t *testing.T, v any) string {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		name := mustString(t, "Ref", m["Ref"])
		d, ok := tpl.paramDefault(t, name)
		if !ok {
			t.Fatalf("template.yaml: parameter %s has no default to evaluate a condition with", name)
		}
		return fmt.Sprint(d)
	}
	return fmt.Sprint(v)
}

// EventBridge invokes the function through a service-linked role that a
// fresh account does not have: the template creates it, by default, and
// keeps it when the stack goes (other triggers of the account use it);
// s.yaml and the deploy guide say how it is created without ROS.
func TestEventBridgeServiceLinkedRole(t *testing.T) {
	const service = "sendevent-fc.eventbridge.aliyuncs.com"
	tpl := loadTemplate(t)
	name, p := tpl.one(t, "ALIYUN::ResourceManager::ServiceLinkedRole")
	if p["ServiceName"] != service {
		t.Errorf("template.yaml %s.ServiceName %v, want %s (AliyunServiceRoleForEventBridgeSendToFC)", name, p["ServiceName"], service)
	}
	r := tpl.resources[name]
	if r["DeletionPolicy"] != "Retain" {
		t.Errorf("template.yaml %s: DeletionPolicy %v, want Retain: deleting the stack must not take the account's role", name, r["DeletionPolicy"])
	}
	if c, ok := r["Condition"]; ok && !tpl.condition(t, fmt.Sprint(c)) {
		t.Errorf("template.yaml %s: with the parameters' defaults its condition %v leaves it out; a fresh account needs it", name, c)
	}
	// A resource depending on a conditional one could be left out with it.
	for other, res := range tpl.resources {
		deps := fmt.Sprint(res["DependsOn"])
		if strings.Contains(deps, name) {
			t.Errorf("template.yaml %s depends on %s, which a parameter can leave out", other, name)
		}
	}

	b, err := os.ReadFile(repoPath("s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := "aliyun ram CreateServiceLinkedRole --ServiceName " + service
	if !strings.Contains(string(b), cmd) {
		t.Errorf("s.yaml does not say how the role is created (%q)", cmd)
	}
	doc := deploySection(t)
	for _, w := range []string{cmd, "AliyunServiceRoleForEventBridgeSendToFC"} {
		if !strings.Contains(doc, w) {
			t.Errorf(deployDoc+": %q is missing", w)
		}
	}
}
