package tests

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// A run in which 300 secrets fail ends in an error whose message a failure
// destination takes: Simple Message Queue (MNS) and EventBridge carry 64 KB
// a message. The function posts, through the real FC runtime loop, the
// report cut to the counts and the first failures; every secret's outcome
// is in its log.
func TestThreeHundredFailuresFitAFailureDestination(t *testing.T) {
	w := newWorld(t)
	// The source names an instance the registry service does not know: every
	// secret fails CredentialSourceFailed before any SAE call.
	refs := make([]string, 300)
	for i := range refs {
		refs[i] = byID(nsProd, int64(i+1))
	}
	cfg := config(`{"name":"fleet","source":{"type":"acr-ee","instanceId":"cri-gone","regionId":"` + region + `"},"secrets":[` + strings.Join(refs, ",") + `]}`)
	f := w.start(cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := w.emu.Invoke(ctx, emulator.Invocation{Payload: []byte(timerEvent("")), Timeout: time.Minute, Credentials: sts})
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	w.guard.WatchBytes("invocation error", res.Payload)
	if !res.Failed {
		t.Fatal("the invocation succeeded; want an error (every secret failed)")
	}
	// What FC hands the destination is larger still; the runtime's error
	// JSON, escaped once, is already well under 64 KB.
	if len(res.Payload) >= 64<<10 {
		t.Errorf("the runtime's error JSON is %d bytes, over 64 KB", len(res.Payload))
	}
	msg, err := res.Output()
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) > rotation.FailureMessageLimit {
		t.Errorf("the error message is %d bytes, over the documented %d", len(msg), rotation.FailureMessageLimit)
	}
	var got struct {
		rotation.Report
		Truncated *rotation.Truncation `json:"truncated"`
	}
	if err := json.Unmarshal(msg, &got); err != nil {
		t.Fatalf("the error message is not the report's JSON: %v", err)
	}
	if got.Failed != 300 || got.Rotated != 0 || got.Trigger != "timer" || got.RequestID != res.RequestID {
		t.Errorf("counts and header: failed %d, rotated %d, trigger %q, requestId %q (invocation %q)", got.Failed, got.Rotated, got.Trigger, got.RequestID, res.RequestID)
	}
	if len(got.Results) == 0 || got.Truncated == nil {
		t.Fatalf("%d results, truncated %v: want the first failures and what was left out", len(got.Results), got.Truncated)
	}
	for i, r := range got.Results {
		if idOf(r) != int64(i+1) || r.Status != rotation.StatusFailed || r.Error == nil || r.Error.Code != rotation.CredentialSourceFailed {
			t.Fatalf("result %d: secret %d %s %+v, want secret %d failed CredentialSourceFailed", i, idOf(r), r.Status, r.Error, i+1)
		}
	}
	if got.Truncated.OmittedFailures != 300-len(got.Results) || got.Truncated.OmittedResults != 300-len(got.Results) {
		t.Errorf("truncated %+v with %d results shown", *got.Truncated, len(got.Results))
	}

	// The whole report is in the log: a line for every secret, and a line
	// saying the error message was cut (the last the function writes).
	f.awaitLog(func(l map[string]any) bool {
		return l["level"] == "warn" && l["requestId"] == res.RequestID && l["results"] == float64(300)
	})
	failedLines, cutLine := 0, false
	for _, l := range logLines(f.stderr.Bytes()) {
		switch {
		case l["msg"] == "secret failed" && l["requestId"] == res.RequestID:
			failedLines++
		case l["level"] == "warn" && l["requestId"] == res.RequestID && l["results"] == float64(300):
			cutLine = true
		}
	}
	if failedLines != 300 || !cutLine {
		t.Errorf("log: %d `secret failed` lines (want 300), a line saying the message was cut: %v", failedLines, cutLine)
	}
	if n := len(w.calls("DescribeSecret")) + len(w.calls("UpdateSecret")); n != 0 {
		t.Errorf("%d SAE calls for secrets whose source failed", n)
	}
}
