package tests

import (
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// The fault matrix: one row per fault, each asserting the secret's final
// state and the report. docs/failure-modes.md lists them.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	type want struct {
		status  string
		code    rotation.Code
		message string // the report's message must say which call
	}
	rotated := want{status: rotation.StatusRotated}
	for _, tc := range []struct {
		name   string
		action string
		fault  emulator.Fault
		want   want
	}{
		{"throttling burst on SAE", "sae", emulator.Fault{Throttle: 4}, rotated},
		{"throttling that never ends", "sae", emulator.Fault{Throttle: 1000}, want{rotation.StatusFailed, rotation.Throttled, "DescribeSecret"}},
		{"SAE 500 then recovery", "sae", emulator.Fault{Fail: 2, FailStatus: 500}, rotated},
		{"SAE 503 then recovery", "UpdateSecret", emulator.Fault{Fail: 2, FailStatus: 503}, rotated},
		{"SAE 503 that never ends", "UpdateSecret", emulator.Fault{Fail: 1000, FailStatus: 503}, want{rotation.StatusFailed, rotation.UpdateFailed, "UpdateSecret"}},
		{"ACR 500 then recovery", "cr", emulator.Fault{Fail: 2, FailStatus: 500}, rotated},
		{"ACR 503 that never ends", "GetAuthorizationToken", emulator.Fault{Fail: 1000, FailStatus: 503}, want{rotation.StatusFailed, rotation.CredentialSourceFailed, "GetAuthorizationToken"}},
		{"SAE write hangs", "UpdateSecret", emulator.Fault{Hang: true}, want{rotation.StatusFailed, rotation.UpdateFailed, "UpdateSecret: no answer within 1s"}},
		{"SAE read hangs", "DescribeSecret", emulator.Fault{Hang: true}, want{rotation.StatusFailed, rotation.UpdateFailed, "DescribeSecret: no answer within 1s"}},
		{"ACR token hangs", "GetAuthorizationToken", emulator.Fault{Hang: true}, want{rotation.StatusFailed, rotation.CredentialSourceFailed, "GetAuthorizationToken: no answer within 1s"}},
		{"lagging reads after the write", "DescribeSecret", emulator.Fault{LagReads: 3}, rotated},
		{"write dropped by the store", "UpdateSecret", emulator.Fault{DropWrites: 1}, want{rotation.StatusFailed, rotation.VerificationFailed, "does not show the write"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			foreign := login("team", "foreign-password-kept")
			id := w.secret(nsProd, "acr-pull", map[string]auth{"registry.example.com": foreign}, map[string]any{"credsStore": "desktop"})
			before := w.stored(nsProd, id)
			w.emu.SetFault(tc.action, tc.fault)
			cfg := strings.Replace(config(target("prod-pull", byID(nsProd, id))), `"apiTimeout":"3s"`, `"apiTimeout":"1s"`, 1)
			f := w.start(cfg)
			// The invocation's deadline is far: only the SDK's timeout may end a hanging call.
			start := time.Now()
			rep, failed := f.invoke(timerEvent(""), 5*time.Minute)
			took := time.Since(start)
			if len(rep.Results) != 1 {
				w.guard.Fatalf("results: %+v", rep.Results)
			}
			r := rep.Results[0]
			if r.Status != tc.want.status || failed != (tc.want.status == rotation.StatusFailed) {
				w.guard.Fatalf("status %q (invocation failed: %v), error %+v; want %q", r.Status, failed, r.Error, tc.want.status)
			}
			if tc.want.code != "" && (r.Error == nil || r.Error.Code != tc.want.code || !strings.Contains(r.Error.Message, tc.want.message)) {
				w.guard.Fatalf("error %+v; want %s naming %q", r.Error, tc.want.code, tc.want.message)
			}
			// A failed result names registries only when its write went out
			// (it may have landed); a failure before the write wrote nothing.
			if wrote := tc.action == "UpdateSecret"; r.Status == rotation.StatusFailed && (len(r.Registries) > 0) != wrote {
				t.Errorf("a failed result lists registries %v; want them only when the write was sent (%v)", r.Registries, wrote)
			}
			if tc.fault.Hang && took > 30*time.Second {
				t.Errorf("a hanging call took %v to fail: the SDK's 1s timeout should end it", took)
			}
			switch {
			case tc.want.status == rotation.StatusRotated:
				w.holdsToken(nsProd, id, w.onlyToken(), publicHost, vpcHost)
				auths, top := w.dockerConfig(nsProd, id)
				if auths["registry.example.com"] != foreign || string(top["credsStore"]) != `"desktop"` {
					t.Error("the foreign entry or the other top-level key was lost")
				}
			case tc.fault.Hang && tc.action == "UpdateSecret":
				// A write that got no answer may or may not have landed; it must not be half of one.
				got := w.stored(nsProd, id)
				if !reflect.DeepEqual(got, before) {
					w.holdsToken(nsProd, id, w.onlyToken(), publicHost, vpcHost)
				}
			default:
				if !reflect.DeepEqual(before, w.stored(nsProd, id)) {
					t.Error("the secret changed although its rotation failed")
				}
			}
		})
	}
}

// The invocation's deadline arrives mid-run: secrets that could not finish
// are not started and are reported DeadlineExceeded, untouched; the others
// are fully rotated; the report comes back before the deadline.
func TestDeadlineMidRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	var refs []string
	var ids []int64
	for i := range 12 {
		id := w.secret(nsProd, fmt.Sprintf("pull-%02d", i), map[string]auth{"docker.io": login("team", "docker-hub-password")}, nil)
		ids = append(ids, id)
		refs = append(refs, byID(nsProd, id))
	}
	befores := map[int64]emulator.Secret{}
	for _, id := range ids {
		befores[id] = w.stored(nsProd, id)
	}
	w.emu.SetFault("sae", emulator.Fault{Latency: 300 * time.Millisecond})
	// One at a time, so the run is long and the deadline lands in its middle.
	cfg := strings.Replace(config(target("prod-pull", refs...)), `"targets"`, `"concurrency":1,"targets"`, 1)
	f := w.start(cfg)
	start := time.Now()
	rep, failed := f.invoke(timerEvent(""), 6*time.Second)
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("the report came %v after the invocation started, past its 6s deadline", took)
	}
	if !failed || rep.Rotated == 0 || rep.Failed == 0 {
		w.guard.Fatalf("want some secrets rotated and the rest DeadlineExceeded; failed=%v rotated=%d failed=%d", failed, rep.Rotated, rep.Failed)
	}
	tok := w.onlyToken()
	for _, r := range rep.Results {
		switch r.Status {
		case rotation.StatusRotated:
			w.holdsToken(nsProd, idOf(r), tok, publicHost, vpcHost)
		case rotation.StatusFailed:
			if r.Error.Code != rotation.DeadlineExceeded {
				w.guard.Errorf("secret %d: %+v, want DeadlineExceeded", idOf(r), r.Error)
			}
			if w.writes(nsProd, idOf(r)) != 0 || !reflect.DeepEqual(befores[idOf(r)], w.stored(nsProd, idOf(r))) {
				t.Errorf("secret %d was written although reported DeadlineExceeded", idOf(r))
			}
		}
	}
}

// The process is killed between UpdateSecret and its verification: the next
// run leaves the secret correct, with nothing lost.
func TestKilledBetweenWriteAndVerification(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	foreign := login("team", "foreign-password-kept")
	id := w.secret(nsProd, "acr-pull", map[string]auth{"registry.example.com": foreign, publicHost: login("cr_temp_user", "seeded-token")}, nil)
	cfg := config(target("prod-pull", byID(nsProd, id)))
	// The verification read (the DescribeSecret after the one that read the
	// secret) takes long enough to kill the process while it waits; both
	// stay under the 3s apiTimeout, so that neither is retried.
	w.emu.SetFault("DescribeSecret", emulator.Fault{Latency: 2 * time.Second})
	f := w.start(cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = w.emu.Invoke(t.Context(), emulator.Invocation{Payload: []byte(timerEvent("")), Timeout: time.Minute, Credentials: sts})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for len(w.calls("DescribeSecret")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the function never reached its verification")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w.writes(nsProd, id) != 1 {
		t.Fatalf("%d writes before the kill, want 1", w.writes(nsProd, id))
	}
	if err := f.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = f.cmd.Wait()
	for w.emu.Pollers() > 0 { // let the emulator notice the dead poller
		time.Sleep(10 * time.Millisecond)
	}
	w.emu.ClearFaults()

	f2 := w.start(cfg)
	rep, failed := f2.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 1 {
		w.guard.Fatalf("the run after the kill: failed=%v %+v", failed, rep.Results)
	}
	toks := w.emu.Tokens()
	if len(toks) != 2 {
		t.Fatalf("%d tokens minted, want one per run", len(toks))
	}
	w.holdsToken(nsProd, id, toks[1], publicHost, vpcHost)
	if auths, _ := w.dockerConfig(nsProd, id); auths["registry.example.com"] != foreign {
		t.Error("the foreign entry was lost")
	}
}

// A token that expires before the next scheduled run plus the margin is
// flagged in the report and warned about in the log.
func TestExpiresBeforeNextRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		flag bool
	}{
		{"short STS-bound token", 20 * time.Minute, true}, // 20m < 20m interval + 5m margin
		{"one-hour token", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			w.emu.AddInstance(emulator.Instance{ID: "cri-short", RegionID: region, TokenTTL: tc.ttl})
			id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
			cfg := config(`{"name":"short","source":{"type":"acr-ee","instanceId":"cri-short","regionId":"cn-hangzhou"},"secrets":[` + byID(nsProd, id) + `]}`)
			f := w.start(cfg)
			rep, failed := f.invoke(timerEvent(""), time.Minute)
			if failed || len(rep.Results) != 1 {
				w.guard.Fatalf("failed=%v %+v", failed, rep.Results)
			}
			if got := rep.Results[0].ExpiresBeforeNextRun; got != tc.flag {
				t.Errorf("expiresBeforeNextRun = %v, want %v", got, tc.flag)
			}
			warned := false
			for _, l := range logLines(f.stderr.Bytes()) {
				if l["level"] == "warn" && strings.Contains(fmt.Sprint(l["msg"]), "expires before the next scheduled run") {
					warned = true
				}
			}
			if warned != tc.flag {
				t.Errorf("warning logged = %v, want %v", warned, tc.flag)
			}
		})
	}
}
