package rotation

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// A pacer wait is a debug line, an info line when it is longer than 5 s
// (a run that waits that long would otherwise look stuck), with its length,
// why, the pacer and the call.
func TestPacerWaitLogLevel(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	w := &invocation{log: zap.New(core)}
	ln := newLane("sae", port.Quota{Calls: 60, Per: time.Minute}, time.Second, wallClock{})
	for _, tc := range []struct {
		d     time.Duration
		why   string
		level zapcore.Level
	}{{time.Second, waitQuota, zapcore.DebugLevel}, {5 * time.Second, waitThrottle, zapcore.DebugLevel},
		{5*time.Second + time.Millisecond, waitThrottle, zapcore.InfoLevel}, {40 * time.Second, waitQuota, zapcore.InfoLevel}} {
		w.logWait(ln, "write")(tc.d, tc.why)
		all := logs.TakeAll()
		if len(all) != 1 {
			t.Fatalf("%v: %d lines", tc.d, len(all))
		}
		e, f := all[0], all[0].ContextMap()
		if e.Level != tc.level || f["wait"] != tc.d || f["why"] != tc.why || f["pacer"] != "sae" || f["api"] != "write" {
			t.Errorf("a %v wait (%s) logged %v %q %v; want level %v", tc.d, tc.why, e.Level, e.Message, f, tc.level)
		}
	}
}
