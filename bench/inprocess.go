package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sae-secret-rotator/rotator/internal/aliyun/acr"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// envChild makes this program serve an emulator instead (ServeChildIfAsked):
// allocations are counted per process, so the emulator answering the
// in-process engine must live in another one.
const envChild = "ROTATOR_BENCH_EMULATOR_CHILD"

type childSpec struct {
	Namespaces, PerNamespace int
}

type childReady struct {
	URL  string
	Refs []SecretRef
}

// ServeChildIfAsked serves an emulator when this process was started by
// StartChildEmulator, and exits once its parent closes stdin. Call it first
// thing in main and TestMain.
func ServeChildIfAsked() {
	spec := os.Getenv(envChild)
	if spec == "" {
		return
	}
	var cs childSpec
	if err := json.Unmarshal([]byte(spec), &cs); err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(2)
	}
	emu, err := StartEmulator(Scale{Calls: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(1)
	}
	refs, err := Seed(emu, "alloc", cs.Namespaces, cs.PerNamespace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(childReady{URL: emu.URL(), Refs: refs})
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = emu.Close()
	os.Exit(0)
}

// ChildEmulator is an emulator served by another process.
type ChildEmulator struct {
	URL   string
	Refs  []SecretRef
	cmd   *exec.Cmd
	stdin io.Closer
}

// StartChildEmulator re-runs this program as an emulator (see
// ServeChildIfAsked) seeded with namespaces × perNamespace secrets, without a
// quota.
func StartChildEmulator(namespaces, perNamespace int) (*ChildEmulator, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, _ := json.Marshal(childSpec{Namespaces: namespaces, PerNamespace: perNamespace})
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envChild+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var ready childReady
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&ready); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("the emulator child did not start: %v", err)
	}
	return &ChildEmulator{URL: ready.URL, Refs: ready.Refs, cmd: cmd, stdin: stdin}, nil
}

// Close stops the child.
func (c *ChildEmulator) Close() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// NewRotator builds the engine as function/main.go does (real aliyun
// backend, JSON logs at info) against an emulator at url. The logs go to
// io.Discard: they are formatted, and their allocations counted, all the same.
func NewRotator(url, cfgJSON string) (*rotation.Rotator, error) {
	cfg, err := rotation.ParseConfig([]byte(cfgJSON), "bench", catalog.Kinds())
	if err != nil {
		return nil, err
	}
	env := map[string]string{sae.EnvEndpoint: url, acr.EnvEndpoint: url}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey, enc.EncodeTime = "time", zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(io.Discard), zapcore.InfoLevel)).With(zap.String("logger", "rotator"))
	r := rotation.New(cfg, nil, log, rotation.Options{Getenv: func(k string) string { return env[k] }})
	return r, r.ConfigError()
}

// Invocation is a timer invocation with the function role's credentials.
func Invocation(id string) rotation.Invocation {
	return rotation.Invocation{RequestID: id, Event: TimerEvent(),
		Credentials: rotation.Credentials{AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken}}
}

// Unpaced is a quota the pacer never waits for: allocation runs measure the
// engine, not the clock.
var Unpaced = Scale{Calls: 1_000_000, Window: time.Second}

// AllocSecrets is how many secrets (one namespace) one operation of
// BenchmarkAllocs rotates.
const AllocSecrets = 10

// Allocs is a benchmark body: each operation is one invocation rotating
// AllocSecrets secrets with the in-process engine and the real SDK backend,
// against an emulator in a child process (so only the function's
// allocations count). It reports allocs/secret and B/secret.
func Allocs(b *testing.B) {
	child, err := StartChildEmulator(1, AllocSecrets)
	if err != nil {
		b.Fatal(err)
	}
	defer child.Close()
	r, err := NewRotator(child.URL, Config(Unpaced, rotation.DefaultFreshness, child.Refs))
	if err != nil {
		b.Fatal(err)
	}
	// One warm-up invocation: connections, lazily built SDK tables.
	if rep := r.Run(context.Background(), Invocation("warm-up")); !rep.OK() {
		b.Fatalf("warm-up: %s", Outcome(rep))
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		n++
		rep := r.Run(context.Background(), Invocation(fmt.Sprint("bench-", n)))
		if !rep.OK() || rep.Rotated != AllocSecrets {
			b.Fatalf("rotation: %s", Outcome(rep))
		}
	}
	runtime.ReadMemStats(&after)
	secrets := float64(n * AllocSecrets)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/secrets, "allocs/secret")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/secrets, "B/secret")
}

// AllocsPerSecret runs Allocs once through testing.Benchmark.
func AllocsPerSecret() (allocs, bytes float64, err error) {
	var failed string
	res := testing.Benchmark(func(b *testing.B) {
		defer func() {
			if b.Failed() {
				failed = "the allocation benchmark failed (see its output)"
			}
		}()
		Allocs(b)
	})
	if failed != "" || res.N == 0 {
		return 0, 0, fmt.Errorf("allocation benchmark: %s", failed)
	}
	return res.Extra["allocs/secret"], res.Extra["B/secret"], nil
}

// Outcome sums a report up by counts and codes alone, for a failure
// message: its results' messages and the report's JSON stay unprinted.
func Outcome(rep *rotation.Report) string {
	s := fmt.Sprintf("%d rotated, %d failed, %d skipped", rep.Rotated, rep.Failed, rep.Skipped)
	if rep.Error != nil {
		s += ", refused: " + string(rep.Error.Code)
	}
	if codes, _ := failures(rep); len(codes) > 0 {
		s += "; failures: " + FailureText(codes)
	}
	return s
}
