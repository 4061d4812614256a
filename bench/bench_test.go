package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/rotation"
)

func TestMain(m *testing.M) {
	ServeChildIfAsked()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// The call budget: N secrets of one namespace whose writes fit in one
// freshness window cost one shared ListSecrets, then an UpdateSecret and a
// DescribeSecret each: at most 2N + 1 SAE calls, and no other SAE action.
// With several namespaces, one read each: 2N + namespaces.
func TestCallBudget(t *testing.T) {
	for _, tc := range []struct{ namespaces, per int }{{1, 1}, {1, 10}, {1, 30}, {3, 5}} {
		t.Run(fmt.Sprintf("%dx%d", tc.namespaces, tc.per), func(t *testing.T) {
			t.Parallel()
			// The function paces to SAE's quota scaled to 60 calls a second:
			// N ≤ 30 finishes well inside the default 10 s freshness window.
			// The emulator enforces no quota here, so that a loaded CI
			// machine delaying a call cannot turn it into a throttled retry:
			// this test counts calls; BenchmarkQuotaBound measures pacing.
			s := Scale{Calls: 60, Window: time.Second}
			emu, err := StartEmulator(Scale{Calls: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer emu.Close()
			refs, err := Seed(emu, "budget", tc.namespaces, tc.per)
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewRotator(emu.URL(), Config(s, rotation.DefaultFreshness, refs))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep := r.Run(ctx, Invocation("budget"))
			n := len(refs)
			if !rep.OK() || rep.Rotated != n {
				t.Fatalf("rotated %d of %d: %s", rep.Rotated, n, rep.JSON())
			}
			c := CountCalls(emu)
			budget := 2*n + tc.namespaces
			if c.SAE > budget || c.Other > 0 {
				t.Errorf("%d secrets in %d namespace(s) took %d SAE calls %v; the budget is 2N + namespaces = %d, with no action but ListSecrets, UpdateSecret and DescribeSecret",
					n, tc.namespaces, c.SAE, c.ByAction, budget)
			}
			if c.ByAction["UpdateSecret"] != n || c.ByAction["DescribeSecret"] != n {
				t.Errorf("want one UpdateSecret and one DescribeSecret per secret, got %v", c.ByAction)
			}
		})
	}
}

// The scale's arithmetic matches production: 9 paced calls a freshness
// window, so one read serves 4 secrets (2.25 calls a secret).
func TestScale(t *testing.T) {
	for _, s := range []Scale{DefaultScale, Production} {
		if got := s.Freshness(); s == Production && got != rotation.DefaultFreshness {
			t.Errorf("production freshness %v", got)
		}
		if m := s.M(s.Freshness()); m != 4 {
			t.Errorf("%+v: m = %d, want 4", s, m)
		}
		if b := s.CallBudget(1, s.Freshness()); b != 3 {
			t.Errorf("budget(1) = %v", b)
		}
		if b := s.CallBudget(100, s.Freshness()); b != 2.25 {
			t.Errorf("budget(100) = %v", b)
		}
		if b := s.CallBudget(10, s.Freshness()); b != 2.3 {
			t.Errorf("budget(10) = %v", b)
		}
	}
	if got := DefaultScale.Freshness(); got != 200*time.Millisecond {
		t.Errorf("scaled freshness %v, want 200ms", got)
	}
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// binary builds the function once for the benchmarks that run it.
func binary(b *testing.B) string {
	b.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "rotator-bench"); binErr == nil {
			binPath, binErr = BuildFunction(binDir)
		}
	})
	if binErr != nil {
		b.Fatal(binErr)
	}
	return binPath
}

// mean runs a rotation b.N times and reports its figures as custom metrics
// (the ns/op of these benchmarks is the whole scenario, setup included).
func rotations(b *testing.B, spec Rotation, report func(b *testing.B, rs []RotationResult)) {
	bin := binary(b)
	var rs []RotationResult
	for b.Loop() {
		r, err := RunRotation(bin, spec)
		if err != nil {
			b.Fatal(err)
		}
		rs = append(rs, r)
	}
	report(b, rs)
}

func avg[T any](rs []T, f func(T) float64) float64 {
	sum := 0.0
	for _, r := range rs {
		sum += f(r)
	}
	return sum / float64(len(rs))
}

// SAE calls per rotated secret, N per namespace in 1 and 5 namespaces, at the
// scaled production freshness (9 paced calls a window: m = 4). Goal:
// 2 + ⌈N/m⌉/N (2 + 1/N when N ≤ m, 2 + 1/m when m divides N); the naive
// rotator spends 3.
func BenchmarkCallsPerSecret(b *testing.B) {
	s := DefaultScale
	for _, ns := range []int{1, 5} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("ns=%d/N=%d", ns, n), func(b *testing.B) {
				rotations(b, Rotation{Scale: s, Namespaces: ns, PerNamespace: n}, func(b *testing.B, rs []RotationResult) {
					b.ReportMetric(avg(rs, RotationResult.CallsPerSecret), "sae-calls/secret")
					b.ReportMetric(avg(rs, func(r RotationResult) float64 { return float64(r.Failed()) }), "failed")
					b.ReportMetric(s.CallBudget(n, s.Freshness()), "goal-calls/secret")
					b.ReportMetric(avg(rs, func(r RotationResult) float64 { return float64(r.Calls.Other) }), "other-calls")
				})
			})
		}
	}
}

// The same with the production freshness of 10 s left unscaled, so that all
// N writes fit in one window. Goal: 2 + 1/N.
func BenchmarkCallsPerSecretOneWindow(b *testing.B) {
	s := DefaultScale
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			rotations(b, Rotation{Scale: s, Namespaces: 1, PerNamespace: n, Freshness: rotation.DefaultFreshness}, func(b *testing.B, rs []RotationResult) {
				b.ReportMetric(avg(rs, RotationResult.CallsPerSecret), "sae-calls/secret")
				b.ReportMetric(2+1/float64(n), "goal-calls/secret")
			})
		})
	}
}

// 100 secrets under the scaled quota: wall time ÷ (SAE calls ÷ quota rate),
// goal ≤ 1.1; and the function's peak RSS during it, goal ≤ 32 MB.
func BenchmarkQuotaBound(b *testing.B) {
	s := DefaultScale
	rotations(b, Rotation{Scale: s, Namespaces: 1, PerNamespace: 100}, func(b *testing.B, rs []RotationResult) {
		b.ReportMetric(avg(rs, func(r RotationResult) float64 { return r.QuotaRatio(s) }), "wall/quota-bound")
		b.ReportMetric(avg(rs, func(r RotationResult) float64 { return r.Wall.Seconds() }), "wall-s")
		b.ReportMetric(avg(rs, func(r RotationResult) float64 { return float64(r.PeakRSS) / 1e6 }), "peak-RSS-MB")
		b.ReportMetric(avg(rs, func(r RotationResult) float64 { return float64(r.StaleWrites) }), "stale-slots")
	})
}

// Two instances rotating 50 secrets each at once under one quota: throttled
// share of SAE calls (goal ≤ 5%) and wall time against the quota bound.
func BenchmarkTwoInstances(b *testing.B) {
	s := DefaultScale
	bin := binary(b)
	var rs []TwoResult
	for b.Loop() {
		r, err := RunTwoInstances(bin, s, 50)
		if err != nil {
			b.Fatal(err)
		}
		rs = append(rs, r)
	}
	b.ReportMetric(100*avg(rs, TwoResult.ThrottledShare), "throttled-%")
	b.ReportMetric(avg(rs, func(r TwoResult) float64 { return float64(r.Secrets - r.Rotated) }), "failed")
	b.ReportMetric(avg(rs, func(r TwoResult) float64 { return r.QuotaRatio(s) }), "wall/quota-bound")
}

// One secret with 50 ms added to every SAE, ACR and registry call (the
// login check's round trips count): wall time ÷ (calls × 50 ms), goal ≤ 1.2.
func BenchmarkLatencyBound(b *testing.B) {
	const latency = 50 * time.Millisecond
	rotations(b, Rotation{Scale: DefaultScale, Namespaces: 1, PerNamespace: 1, Freshness: rotation.DefaultFreshness, Latency: latency},
		func(b *testing.B, rs []RotationResult) {
			b.ReportMetric(avg(rs, func(r RotationResult) float64 { return r.LatencyRatio(latency) }), "wall/latency-bound")
			b.ReportMetric(avg(rs, func(r RotationResult) float64 { return float64(r.Calls.SAE + r.Calls.ACR + r.Calls.Registry) }), "calls")
		})
}

// Exec of the built binary to its first poll of the runtime API; ns/op is
// one cold start. Goal: median ≤ 20 ms (cmd/bench takes the median of 20).
func BenchmarkColdStart(b *testing.B) {
	bin := binary(b)
	if _, err := ColdStart(bin, 0); err != nil { // page cache
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		d, err := ColdStartOnce(bin)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, d)
	}
	b.ReportMetric(float64(Median(ds))/1e6, "median-ms")
}

// Allocations per rotated secret of the in-process engine with the real SDK
// backend (the emulator runs in a child process).
func BenchmarkAllocs(b *testing.B) { Allocs(b) }

// The code package's size (go run ./cmd/package), goal ≤ 6 MB.
func BenchmarkPackageSize(b *testing.B) {
	var size int64
	for b.Loop() {
		dir := b.TempDir()
		var err error
		if size, err = PackageSize(dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/1e6, "zip-MB")
}

// One secret whose write is throttled three times in a row, at SAE's real
// quota and the default throttleWait: wall seconds, goal well within a
// minute.
func BenchmarkThreeThrottles(b *testing.B) {
	for range b.N {
		r, err := RunThrottled(binary(b), Throttled{Throttles: 3, Wait: rotation.DefaultThrottleWait})
		if err != nil {
			b.Fatal(err)
		}
		if r.Status != rotation.StatusRotated {
			b.Fatalf("status %s: %s", r.Status, r.Message)
		}
		b.ReportMetric(r.Wall.Seconds(), "wall-s")
	}
}

// Throttling that never ends. A normal run with the quota and throttleWait
// scaled 50x down: seconds to give up, scaled back to production (goal:
// about 3 minutes). An emergency run unscaled, as a user meets it (about a
// minute): seconds from the invocation to giving up (goal: within one) and
// the longest wait between two tries (goal: about 5 s).
func BenchmarkEndlessThrottling(b *testing.B) {
	b.Run("normal", func(b *testing.B) {
		for range b.N {
			r, err := RunThrottled(binary(b), Throttled{Scale: DefaultScale, Throttles: 1 << 20, Wait: rotation.DefaultThrottleWait / 50})
			if err != nil {
				b.Fatal(err)
			}
			if r.Code != rotation.Throttled {
				b.Fatalf("code %q, want Throttled", r.Code)
			}
			b.ReportMetric(r.Throttled.Seconds()*50, "give-up-s(production)")
		}
	})
	b.Run("emergency", func(b *testing.B) {
		for range b.N {
			r, err := RunThrottled(binary(b), Throttled{Throttles: 1 << 20, Wait: rotation.DefaultThrottleWait, Emergency: true})
			if err != nil {
				b.Fatal(err)
			}
			if r.Code != rotation.Throttled {
				b.Fatalf("code %q, want Throttled", r.Code)
			}
			b.ReportMetric(r.Wall.Seconds(), "give-up-s")
			b.ReportMetric(r.MaxGap.Seconds(), "max-gap-s")
		}
	})
}

// 100 secrets of each store beside SAE in one invocation: the store's calls
// per secret (a read, a write and a read-back: 3) and wall seconds.
func BenchmarkStores(b *testing.B) {
	for _, store := range []string{"kms", "csms", "ssm"} {
		if StoreSeeders[store] == nil {
			continue
		}
		b.Run(store, func(b *testing.B) {
			for range b.N {
				r, err := RunStoreRotation(binary(b), store, 100)
				if err != nil {
					b.Fatal(err)
				}
				if r.Rotated != r.Secrets {
					b.Fatalf("%d of %d rotated: %s", r.Rotated, r.Secrets, r.FailureSample)
				}
				b.ReportMetric(r.CallsPerSecret(), "calls/secret")
				b.ReportMetric(r.Wall.Seconds(), "wall-s")
			}
		})
	}
}
