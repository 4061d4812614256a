package deploy_test

import (
	"fmt"
	"testing"
)

// Overlapping invocations must share one instance: the per-secret locks,
// the quota pacer and the event cooldown live in an instance's memory. FC
// 3.0 runs each overlapping invocation in an instance of its own unless
// instanceConcurrency says more may share one, and it adds instances
// unless the function's total concurrency is capped at what one takes.
func TestOverlappingInvocationsShareOneInstance(t *testing.T) {
	sp := loadSYAML(t).function(t)
	tpl := loadTemplate(t)
	fnName, fn := tpl.one(t, "ALIYUN::FC3::Function")

	sConc := mustInt(t, sp["instanceConcurrency"])
	if sConc < 2 {
		t.Errorf("s.yaml instanceConcurrency %d: overlapping runs would each get an instance", sConc)
	}
	if got := mustInt(t, mustGet(t, "s.yaml concurrencyConfig", sp, "concurrencyConfig", "reservedConcurrency")); got != sConc {
		t.Errorf("s.yaml concurrencyConfig.reservedConcurrency %d, want instanceConcurrency (%d): more would start a second instance", got, sConc)
	}

	tConc := mustInt(t, fn["InstanceConcurrency"])
	if tConc != sConc {
		t.Errorf("template.yaml %s.InstanceConcurrency %d, s.yaml %d", fnName, tConc, sConc)
	}
	name, cc := tpl.one(t, "ALIYUN::FC3::ConcurrencyConfig")
	if got := mustInt(t, cc["ReservedConcurrency"]); got != tConc {
		t.Errorf("template.yaml %s.ReservedConcurrency %d, want InstanceConcurrency (%d)", name, got, tConc)
	}
	if ref := fmt.Sprint(cc["FunctionName"]); ref != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{fnName, "FunctionName"}}) {
		t.Errorf("template.yaml %s.FunctionName %s does not name the function", name, ref)
	}
}
