package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// The freshness rule holds for KMS as for SAE: when throttling holds a
// write back past the freshness window, the secret is read again, and the
// read that feeds the write that lands is at most `freshness` old. A foreign
// edit made while the write waited survives.
func TestKMSWriteFedByAFreshRead(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	w.kmsSecret("acr-pull", map[string]auth{"docker.io": login("team", "kms-foreign-password")}, nil)
	// freshness 1s; throttle pauses of 0.6, 1.2 s... age the read.
	cfg := strings.Replace(config(target("prod-pull", kmsRef("acr-pull"))), `"throttleWait":"100ms"`, `"throttleWait":"600ms","freshness":"1s"`, 1)
	w.emu.SetFault("PutSecretValue", emulator.Fault{Throttle: 2}) // KMS's action: SAE has none of that name
	f := w.start(cfg, w.kmsEnv())
	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 1 {
		w.guard.Fatalf("report: %+v", rep)
	}
	calls := w.emu.Calls()
	var lastRead time.Time
	checked, reads, throttled := false, 0, 0
	for _, c := range calls {
		switch {
		case c.Action == "GetSecretValue" && c.Query.Get("VersionId") == "":
			lastRead = c.Time
			reads++
		case c.Action == "PutSecretValue" && c.Status != 200:
			throttled++
		case c.Action == "PutSecretValue" && c.Status == 200:
			checked = true
			if age := c.Time.Sub(lastRead); age > time.Second {
				t.Errorf("the write that landed was fed by a read %v old, over the freshness window of 1s", age)
			}
		}
	}
	if !checked {
		t.Fatal("no write landed")
	}
	if throttled != 2 || reads < 2 {
		t.Errorf("%d throttled writes, %d reads (not read-backs): the aged read was not renewed", throttled, reads)
	}
}

// A deadline that comes while a KMS write is held back ends the secret
// DeadlineExceeded, never half-written, and the report comes back in time.
func TestKMSDeadline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	old := w.kmsSecret("acr-pull", map[string]auth{"docker.io": login("team", "kms-foreign-password")}, nil)
	w.emu.SetFault("kms", emulator.Fault{Latency: 1500 * time.Millisecond})
	f := w.start(config(target("prod-pull", kmsRef("acr-pull"))), w.kmsEnv())
	start := time.Now()
	rep, failed := f.invoke(timerEvent(""), 3*time.Second)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the report came %v after the invocation, past its 3s deadline", took)
	}
	if !failed || len(rep.Results) != 1 || rep.Results[0].Error == nil || rep.Results[0].Error.Code != rotation.DeadlineExceeded {
		w.guard.Fatalf("report: %+v", rep)
	}
	cur, _ := w.emu.KMSSecret(region, "acr-pull")
	if cur.Data != old && len(w.calls("PutSecretValue")) > 0 {
		// A write went out: it must have been verified or reported as unverified.
		if !strings.Contains(rep.Results[0].Error.Message, "written") {
			t.Errorf("a write went out, but the message %q does not say so", rep.Results[0].Error.Message)
		}
	}
}
