package bench

import (
	"context"
	"fmt"
	"maps"
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

// The call budget, in-process with the real SAE adapter against the
// emulator. With the answers the API reference documents (ListSecrets
// carries no values), a secret costs a DescribeSecret, an UpdateSecret and
// a DescribeSecret: 3N calls by id, 3N + one ListSecrets a namespace by
// name, and a second invocation of the instance reuses the names it
// resolved (3N). Where ListSecrets carries the values (an older API),
// N secrets of a namespace whose writes fit in one freshness window cost
// one shared ListSecrets, then an UpdateSecret and a DescribeSecret each:
// 2N + namespaces, by name, and by id once the instance has seen its
// namespace's ListSecrets carry them (here: the first secret of each
// namespace is named by secretName). No other SAE action is called.
func TestCallBudget(t *testing.T) {
	type budget struct{ list, describe, perSecret int } // calls: ListSecrets per namespace, DescribeSecret and all per secret
	for _, tc := range []struct {
		name             string
		carrying, byName bool
		warm             bool // count the second invocation of the instance
		mixed            bool // the first secret of each namespace by name, the others by id
		namespaces, per  int
		want             budget
	}{
		{"documented/id/1x1", false, false, false, false, 1, 1, budget{0, 2, 3}},
		{"documented/id/1x30", false, false, false, false, 1, 30, budget{0, 2, 3}},
		{"documented/id/3x5", false, false, false, false, 3, 5, budget{0, 2, 3}},
		{"documented/name/1x10", false, true, false, false, 1, 10, budget{1, 2, 3}},
		{"documented/name/3x5", false, true, false, false, 3, 5, budget{1, 2, 3}},
		{"documented/name/3x5/warm", false, true, true, false, 3, 5, budget{0, 2, 3}},
		{"carrying/name/1x1", true, true, false, false, 1, 1, budget{1, 1, 2}},
		{"carrying/name/1x30", true, true, false, false, 1, 30, budget{1, 1, 2}},
		{"carrying/name/3x5", true, true, false, false, 3, 5, budget{1, 1, 2}},
		{"carrying/id/3x5", true, false, false, false, 3, 5, budget{0, 2, 3}},
		{"carrying/mixed/3x5/warm", true, false, true, true, 3, 5, budget{1, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			emu.SetListSecretsData(tc.carrying)
			refs, err := Seed(emu, "budget", tc.namespaces, tc.per)
			if err != nil {
				t.Fatal(err)
			}
			for i := range refs {
				refs[i].ByName = tc.mixed && i%tc.per == 0
			}
			cfg := Config(s, rotation.DefaultFreshness, refs)
			if tc.byName {
				cfg = ConfigByName(s, rotation.DefaultFreshness, refs)
			}
			r, err := NewRotator(emu.URL(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			n := len(refs)
			runs := 1
			if tc.warm {
				runs = 2
			}
			for i := range runs {
				emu.ResetCalls()
				if rep := r.Run(ctx, Invocation(fmt.Sprint("budget-", i))); !rep.OK() || rep.Rotated != n {
					t.Fatalf("run %d: rotated %d of %d: %s", i, rep.Rotated, n, Outcome(rep))
				}
			}
			c := CountCalls(emu)
			want := map[string]int{"ListSecrets": tc.want.list * tc.namespaces, "DescribeSecret": tc.want.describe * n, "UpdateSecret": n}
			if total := tc.want.perSecret*n + tc.want.list*tc.namespaces; c.SAE != total || c.Other > 0 || !maps.Equal(c.ByAction, withoutZeros(want)) {
				t.Errorf("%d secrets in %d namespace(s) took %d SAE calls %v; the budget is %d: %v", n, tc.namespaces, c.SAE, c.ByAction, total, want)
			}
		})
	}
}

func withoutZeros(m map[string]int) map[string]int {
	maps.DeleteFunc(m, func(_ string, v int) bool { return v == 0 })
	return m
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

// A failed run is described by counts and codes, never by a message that
// could quote a credential.
func TestOutcomeNamesCodesOnly(t *testing.T) {
	rep := &rotation.Report{Rotated: 1, Failed: 2, Skipped: 3, Results: []rotation.Result{
		{Error: &rotation.ResultError{Code: rotation.UpdateFailed, Message: "quoted hub-password-7"}},
		{Error: &rotation.ResultError{Code: rotation.UpdateFailed, Message: "quoted hub-password-8"}},
	}}
	got := Outcome(rep)
	if want := "1 rotated, 2 failed, 3 skipped; failures: 2 UpdateFailed"; got != want {
		t.Errorf("Outcome = %q, want %q", got, want)
	}
	rep = &rotation.Report{Error: &rotation.ResultError{Code: rotation.InvalidEvent, Message: "quoted hub-password-9"}}
	if got, want := Outcome(rep), "0 rotated, 0 failed, 0 skipped, refused: InvalidEvent"; got != want {
		t.Errorf("Outcome = %q, want %q", got, want)
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
// scaled production freshness (9 paced calls a window: m = 4). Goals: with
// the documented answers 3 by id and 3 + 1/N by name; where ListSecrets
// carries the values, 2 + ⌈N/m⌉/N (2 + 1/N when N ≤ m, 2 + 1/m when m
// divides N).
func BenchmarkCallsPerSecret(b *testing.B) {
	s := DefaultScale
	for _, shape := range Shapes {
		for _, ns := range []int{1, 5} {
			for _, n := range []int{1, 10, 100} {
				goal := DocumentedBudget(n, shape.ByName)
				if shape.Carrying {
					goal = s.CallBudget(n, s.Freshness())
				}
				b.Run(fmt.Sprintf("%s/ns=%d/N=%d", shape.Name, ns, n), func(b *testing.B) {
					spec := Rotation{Scale: s, Namespaces: ns, PerNamespace: n, ByName: shape.ByName, ListData: shape.Carrying}
					rotations(b, spec, func(b *testing.B, rs []RotationResult) {
						b.ReportMetric(avg(rs, RotationResult.CallsPerSecret), "sae-calls/secret")
						b.ReportMetric(avg(rs, func(r RotationResult) float64 { return float64(r.Failed()) }), "failed")
						b.ReportMetric(goal, "goal-calls/secret")
						b.ReportMetric(avg(rs, func(r RotationResult) float64 { return float64(r.Calls.Other) }), "other-calls")
					})
				})
			}
		}
	}
}

// The batched path with the production freshness of 10 s left unscaled, so
// that all N writes fit in one window: ListSecrets carrying the values,
// secrets by name. Goal: 2 + 1/N.
func BenchmarkCallsPerSecretOneWindow(b *testing.B) {
	s := DefaultScale
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			spec := Rotation{Scale: s, Namespaces: 1, PerNamespace: n, Freshness: rotation.DefaultFreshness, ByName: true, ListData: true}
			rotations(b, spec, func(b *testing.B, rs []RotationResult) {
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
