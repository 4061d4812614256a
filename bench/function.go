package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// The function binary under an emulated FC runtime API, as every scenario runs it.

// Function is the binary serving an emulated FC runtime API.
type Function struct {
	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{}
}

// StartFunction runs the binary in FC mode: it polls runtime's runtime API and
// calls SAE and ACR at api (often the same emulator). It logs at debug level,
// for the one debug line that tells a pacer slot was spent on a write found
// stale (StaleWrites); the logs are otherwise kept for error messages only.
func StartFunction(bin string, runtime, api *emulator.Server, cfg string, env ...string) (*Function, error) {
	f := &Function{stderr: &tail{max: 64 << 10}, exited: make(chan struct{})}
	f.cmd = exec.Command(bin)
	f.cmd.Env = append(fnbuild.CleanEnv(), "FC_RUNTIME_API="+runtime.RuntimeAPI(), "ROTATOR_CONFIG="+cfg,
		"ROTATOR_SAE_ENDPOINT="+api.URL(), "ROTATOR_CR_ENDPOINT="+api.URL(), "ROTATOR_REGISTRY_ENDPOINT="+api.URL(), "ROTATOR_LOG_LEVEL=debug")
	f.cmd.Env = append(f.cmd.Env, env...)
	f.cmd.Stdout, f.cmd.Stderr = f.stderr, f.stderr
	if err := f.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = f.cmd.Wait(); close(f.exited) }()
	return f, nil
}

// Stop kills the process and waits for it.
func (f *Function) Stop() {
	_ = f.cmd.Process.Kill()
	<-f.exited
}

// StaleWrites is how many writes found their read older than the freshness
// window once the pacer admitted them: each spent a pacer slot on no call.
func (f *Function) StaleWrites() int { return f.stderr.staleWrites() }

// Logs is the tail of what the function printed.
func (f *Function) Logs() string { return f.stderr.String() }

// PeakRSS is the process's peak resident set size so far (VmHWM), in bytes.
func (f *Function) PeakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// waitReady waits for the function's first poll of the runtime API.
func waitReady(runtime *emulator.Server, f *Function) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- runtime.WaitPoll(ctx) }()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("the function never polled the runtime API: %v\n%s", err, f.Logs())
		}
		return nil
	case <-f.exited:
		return fmt.Errorf("the function exited before polling the runtime API:\n%s", f.Logs())
	}
}

// invoke sends the timer event and decodes the report.
func invoke(runtime *emulator.Server, f *Function) (*rotation.Report, error) {
	return invokeWith(runtime, f, TimerEvent())
}

func invokeWith(runtime *emulator.Server, f *Function, event []byte) (*rotation.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := runtime.Invoke(ctx, emulator.Invocation{Payload: event, Timeout: 9 * time.Minute, Credentials: sts})
	if err != nil {
		return nil, fmt.Errorf("invoke: %v\n%s", err, f.Logs())
	}
	body, err := res.Output()
	if err != nil {
		return nil, err
	}
	var rep rotation.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fmt.Errorf("the invocation's result is not a report: %v", err)
	}
	return &rep, nil
}
