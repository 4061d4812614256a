package deploy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

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
