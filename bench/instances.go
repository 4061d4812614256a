package bench

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Two instances under one quota, cold starts, and the log tail they read.

// TwoResult is what two instances rotating at once under one quota measured.
type TwoResult struct {
	Secrets, Rotated int
	Failures         map[rotation.Code]int
	FailureSample    string
	Wall             time.Duration // from the first invocation to the last report
	Walls            [2]time.Duration
	Calls            Calls
	StaleWrites      int
}

// ThrottledShare is the throttled SAE calls as a share of all SAE calls.
func (r TwoResult) ThrottledShare() float64 {
	return float64(r.Calls.Throttled) / float64(max(1, r.Calls.SAE))
}

// QuotaRatio is wall time ÷ (admitted SAE calls ÷ quota rate).
func (r TwoResult) QuotaRatio(s Scale) float64 {
	return r.Wall.Seconds() / (float64(r.Calls.Admitted()) / s.QuotaRate())
}

// RunTwoInstances runs two function processes, each with its own runtime
// API (two FC instances) and its own namespace of perInstance secrets, both
// calling one SAE emulator (one account's quota), invoked at the same time.
func RunTwoInstances(bin string, s Scale, perInstance int) (TwoResult, error) {
	api, err := StartEmulator(s)
	if err != nil {
		return TwoResult{}, err
	}
	defer api.Close()
	var fns [2]*Function
	var rts [2]*emulator.Server
	total := 0
	for i := range 2 {
		refs, err := Seed(api, fmt.Sprintf("inst%d", i), 1, perInstance)
		if err != nil {
			return TwoResult{}, err
		}
		total += len(refs)
		if rts[i], err = emulator.Start(emulator.Options{Credentials: []emulator.Credential{sts}}); err != nil {
			return TwoResult{}, err
		}
		defer rts[i].Close()
		if fns[i], err = StartFunction(bin, rts[i], api, Config(s, s.Freshness(), refs)); err != nil {
			return TwoResult{}, err
		}
		defer fns[i].Stop()
		if err := waitReady(rts[i], fns[i]); err != nil {
			return TwoResult{}, err
		}
	}
	res := TwoResult{Secrets: total}
	var wg sync.WaitGroup
	var errs [2]error
	var reps [2]*rotation.Report
	start := time.Now()
	for i := range 2 {
		wg.Go(func() {
			reps[i], errs[i] = invoke(rts[i], fns[i])
			res.Walls[i] = time.Since(start)
		})
	}
	wg.Wait()
	res.Wall = max(res.Walls[0], res.Walls[1])
	res.Calls = CountCalls(api)
	time.Sleep(50 * time.Millisecond) // the last log lines
	res.Failures = map[rotation.Code]int{}
	for i := range 2 {
		if errs[i] != nil {
			return res, errs[i]
		}
		if e := reps[i].Error; e != nil {
			return res, fmt.Errorf("instance %d: the invocation was refused: %s: %s", i, e.Code, e.Message)
		}
		res.Rotated += reps[i].Rotated
		res.StaleWrites += fns[i].StaleWrites()
		codes, sample := failures(reps[i])
		for c, n := range codes {
			res.Failures[c] += n
		}
		if res.FailureSample == "" {
			res.FailureSample = sample
		}
	}
	return res, nil
}

// ColdStart measures n fresh starts of the binary: from exec to its first
// poll of the runtime API (GET .../invocation/next). One unmeasured start
// first brings the binary into the page cache.
func ColdStart(bin string, n int) ([]time.Duration, error) {
	var out []time.Duration
	for i := -1; i < n; i++ {
		d, err := ColdStartOnce(bin)
		if err != nil {
			return nil, err
		}
		if i >= 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

// ColdStartOnce is one start: exec to the first poll, with a fresh emulator.
func ColdStartOnce(bin string) (time.Duration, error) {
	cfg := Config(DefaultScale, 0, []SecretRef{{Namespace: Namespace("bench", 0), ID: 1}})
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{sts}})
	if err != nil {
		return 0, err
	}
	defer emu.Close()
	start := time.Now()
	f, err := StartFunction(bin, emu, emu, cfg)
	if err != nil {
		return 0, err
	}
	defer f.Stop()
	if err := waitReady(emu, f); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Median of durations.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// staleLine is the function's debug line for a write whose read aged past the
// freshness window while it waited for the pacer: that pacer slot goes unused.
const staleLine = "pacer slot unused"

// tail keeps the last max bytes written (a function's logs) and counts the
// lines that report a stale write.
type tail struct {
	mu      sync.Mutex
	max     int
	buf     bytes.Buffer
	partial []byte
	stale   int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		if bytes.Contains(t.partial[:i], []byte(staleLine)) {
			t.stale++
		}
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > t.max { // a line that long is not a log line
		t.partial = nil
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

func (t *tail) staleWrites() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stale
}
