// Command bench measures every performance figure of the rotator side by
// side in one run against the bundled emulator, and prints them as a table
// next to their goals (markdown, as recorded in docs/performance.md):
//
//	go run ./cmd/bench [-window 1.2s] [-cold 20] [-strict]
//
// SAE's quota of 60 calls a minute is enforced by the emulator with the minute
// scaled down to -window, and the function is configured with the same
// quota; the freshness window scales with it (10 s a minute). Progress goes to
// stderr, the table to stdout. The exit status is 1 when a scenario could not
// run, and with -strict also when a goal is missed.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/bench"
	"github.com/sae-secret-rotator/rotator/rotation"
)

func main() {
	bench.ServeChildIfAsked() // the allocation benchmark's emulator process
	window := flag.Duration("window", bench.DefaultScale.Window, "the quota's minute scaled down to this")
	cold := flag.Int("cold", 20, "cold starts to take the median of")
	strict := flag.Bool("strict", false, "exit 1 when a goal is missed")
	flag.Parse()
	s := bench.Scale{Calls: bench.DefaultScale.Calls, Window: *window}
	t := &table{}
	if err := run(s, *cold, t); err != nil {
		t.print()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	t.print()
	if t.missed > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d goal(s) missed\n", t.missed)
		if *strict {
			os.Exit(1)
		}
	}
}

func step(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }

func run(s bench.Scale, coldStarts int, t *table) error {
	begin := time.Now()
	t.header = machine(s)
	dir, err := os.MkdirTemp("", "rotator-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step("building the function as cmd/package does")
	bin, err := bench.BuildFunction(dir)
	if err != nil {
		return err
	}

	// SAE calls per rotated secret, at the scaled production freshness: with
	// the answers the API reference documents, and where ListSecrets carries
	// the values (an older API: the batched path).
	fresh := s.Freshness()
	m := s.M(fresh)
	other := 0
	var quota bench.RotationResult
	for _, shape := range bench.Shapes {
		for _, ns := range []int{1, 5} {
			for _, n := range []int{1, 10, 100} {
				step("%s: rotating %d secret(s) in each of %d namespace(s)", shape.Name, n, ns)
				r, err := bench.RunRotation(bin, bench.Rotation{Scale: s, Namespaces: ns, PerNamespace: n, ByName: shape.ByName, ListData: shape.Carrying})
				if err != nil {
					return err
				}
				other += r.Calls.Other
				if ns == 1 && n == 100 && !shape.ByName && !shape.Carrying {
					quota = r
				}
				goal, why := bench.DocumentedBudget(n, shape.ByName), "DescribeSecret, UpdateSecret, DescribeSecret"
				if shape.ByName {
					why += " + 1/N ListSecrets"
				}
				if shape.Carrying {
					goal, why = s.CallBudget(n, fresh), "2 + 1/N"
					switch {
					case n > m && n%m == 0:
						why = fmt.Sprintf("2 + 1/m, m = %d", m)
					case n > m:
						why = fmt.Sprintf("2 + ⌈N/m⌉/N, m = %d; 2 + 1/m = %.2f", m, 2+1/float64(m))
					}
				}
				t.row(fmt.Sprintf("SAE calls per secret, %s, N = %d × %d namespace(s)", shapeText(shape.Name), n, ns), callsText(r),
					fmt.Sprintf("≤ %.2f (%s)", goal, why), r.Failed() == 0 && r.CallsPerSecret() <= goal+1e-9)
			}
		}
	}
	for _, n := range []int{10, 100} {
		step("answers carrying data: rotating %d secrets by name within one freshness window (%v)", n, rotation.DefaultFreshness)
		r, err := bench.RunRotation(bin, bench.Rotation{Scale: s, Namespaces: 1, PerNamespace: n, Freshness: rotation.DefaultFreshness, ByName: true, ListData: true})
		if err != nil {
			return err
		}
		other += r.Calls.Other
		goal := 2 + 1/float64(n)
		t.row(fmt.Sprintf("SAE calls per secret, %s, N = %d in one window (freshness %v)", shapeText("carrying/name"), n, rotation.DefaultFreshness), callsText(r),
			fmt.Sprintf("≤ %.2f (2 + 1/N)", goal), r.Failed() == 0 && r.CallsPerSecret() <= goal+1e-9)
	}
	t.row("SAE calls other than ListSecrets, UpdateSecret, DescribeSecret (all runs above)", fmt.Sprint(other), "0", other == 0)

	ratio := quota.QuotaRatio(s)
	t.row("quota-bound: 100 secrets by id (documented answers), wall ÷ (SAE calls ÷ quota rate)",
		fmt.Sprintf("%.2f (%.2f s for %d calls at %.0f/s)", ratio, quota.Wall.Seconds(), quota.Calls.Admitted(), s.QuotaRate()),
		"≤ 1.10", quota.Failed() == 0 && ratio <= 1.1)
	// What the pacer alone allows: its burst, then its ceiling, every slot used.
	burst, _ := rotation.Pace(s.Calls, s.Window)
	paced := (float64(quota.Calls.Admitted()-burst) / s.PacedRate()) / (float64(quota.Calls.Admitted()) / s.QuotaRate())
	t.info("… of which: pacer slots spent on writes found stale (no call sent)",
		fmt.Sprintf("%d (%.0f%% of the run's slots)", quota.StaleWrites,
			100*float64(quota.StaleWrites)/float64(quota.StaleWrites+quota.Calls.Admitted())), "0 would be ideal")
	t.info("… the pacer's own bound for these calls (burst 5, then 54 per minute), no slot lost",
		fmt.Sprintf("%.2f", paced), "ceiling 90% of the quota")

	step("two instances, 50 secrets each, at once under one quota")
	two, err := bench.RunTwoInstances(bin, s, 50)
	if err != nil {
		return err
	}
	share := two.ThrottledShare()
	t.row("two instances: throttled share of SAE calls",
		fmt.Sprintf("%.1f%% (%d of %d)", 100*share, two.Calls.Throttled, two.Calls.SAE), "≤ 5%", share <= 0.05)
	failed := fmt.Sprint(two.Secrets - two.Rotated)
	if two.FailureSample != "" {
		failed += fmt.Sprintf(" of %d (%s; e.g. %q)", two.Secrets, bench.FailureText(two.Failures), two.FailureSample)
	}
	t.row("two instances: secrets failed", failed, "0", two.Rotated == two.Secrets)
	t.info("two instances: wall ÷ (admitted SAE calls ÷ quota rate)",
		fmt.Sprintf("%.2f (%.2f s for %d calls at %.0f/s; instances done at %.2f s, %.2f s; %d stale slots)", two.QuotaRatio(s), two.Wall.Seconds(),
			two.Calls.Admitted(), s.QuotaRate(), two.Walls[0].Seconds(), two.Walls[1].Seconds(), two.StaleWrites), "1.00 is the quota bound")

	const latency = 50 * time.Millisecond
	step("one secret with %v added to every call", latency)
	lat, err := bench.RunRotation(bin, bench.Rotation{Scale: s, Namespaces: 1, PerNamespace: 1, Freshness: rotation.DefaultFreshness, Latency: latency})
	if err != nil {
		return err
	}
	calls := lat.Calls.SAE + lat.Calls.ACR + lat.Calls.Registry
	lr := lat.LatencyRatio(latency)
	t.row("latency-bound: 1 secret, +50 ms a call, wall ÷ (calls × 50 ms)",
		fmt.Sprintf("%.2f (%d ms for %d calls: %d SAE, %d ACR, %d registry login)", lr, lat.Wall.Milliseconds(), calls,
			lat.Calls.SAE, lat.Calls.ACR, lat.Calls.Registry), "≤ 1.20", lr <= 1.2)

	for _, store := range []string{"kms", "csms", "ssm"} {
		if bench.StoreSeeders[store] == nil {
			continue
		}
		step("100 %s secrets in one invocation (the store's own quota)", store)
		sr, err := bench.RunStoreRotation(bin, store, 100)
		if err != nil {
			return err
		}
		t.row(fmt.Sprintf("%s: 100 secrets, calls per secret and wall time", store),
			fmt.Sprintf("%.2f calls (%d for %d rotated); %.2f s", sr.CallsPerSecret(), sr.StoreCalls, sr.Rotated, sr.Wall.Seconds()),
			"≤ 3.00 (read, write, read-back)", sr.Rotated == sr.Secrets && sr.CallsPerSecret() <= 3+1e-9)
	}

	step("one secret whose write is throttled three times in a row (SAE's real quota, throttleWait 1s)")
	three, err := bench.RunThrottled(bin, bench.Throttled{Throttles: 3, Wait: rotation.DefaultThrottleWait})
	if err != nil {
		return err
	}
	t.row("1 secret, 3 throttles in a row: wall time", fmt.Sprintf("%.1f s (%s)", three.Wall.Seconds(), three.Status),
		"well within 60 s", three.Status == rotation.StatusRotated && three.Wall < 30*time.Second)
	step("throttling that never ends, normal run (quota and throttleWait scaled %.0fx down)", s.Factor())
	end, err := bench.RunThrottled(bin, bench.Throttled{Scale: s, Throttles: 1 << 20, Wait: time.Duration(float64(rotation.DefaultThrottleWait) / s.Factor())})
	if err != nil {
		return err
	}
	prod := time.Duration(float64(end.Throttled) * s.Factor())
	t.row("throttling that never ends: from the first throttled answer to giving up, normal", fmt.Sprintf("%.0f s in production (%.2f s scaled; %s)", prod.Seconds(), end.Throttled.Seconds(), end.Code),
		"about 180 s", end.Code == rotation.Throttled && prod <= 185*time.Second)
	// Unscaled: scaling would multiply every round trip's milliseconds too.
	step("throttling that never ends, emergency run (SAE's real quota, throttleWait 1s: about a minute)")
	em, err := bench.RunThrottled(bin, bench.Throttled{Throttles: 1 << 20, Wait: rotation.DefaultThrottleWait, Emergency: true})
	if err != nil {
		return err
	}
	t.row("throttling that never ends, emergency (unscaled): invocation to report; longest wait between tries",
		fmt.Sprintf("%.1f s (last try at %.1f s; %s); %.2f s", em.Wall.Seconds(), em.LastTry.Seconds(), em.Code, em.MaxGap.Seconds()),
		"≤ 60 s; about 5 s", em.Code == rotation.Throttled && em.Wall <= time.Minute && em.MaxGap <= 5500*time.Millisecond)

	step("%d cold starts", coldStarts)
	ds, err := bench.ColdStart(bin, coldStarts)
	if err != nil {
		return err
	}
	med := bench.Median(ds)
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	t.row(fmt.Sprintf("cold start: exec to first runtime API poll, median of %d", len(ds)),
		fmt.Sprintf("%.1f ms (%.1f–%.1f)", ms(med), ms(lo), ms(hi)), "≤ 20 ms", med <= 20*time.Millisecond)

	t.row("peak RSS of the function, 100-secret rotation (VmHWM)",
		fmt.Sprintf("%.1f MB (%.1f MiB)", float64(quota.PeakRSS)/1e6, float64(quota.PeakRSS)/(1<<20)), "≤ 32 MB", quota.PeakRSS <= 32e6)

	step("allocations of the in-process engine")
	allocs, bytes, err := bench.AllocsPerSecret()
	if err != nil {
		return err
	}
	t.info("allocations per rotated secret (in-process engine + SDK)",
		fmt.Sprintf("%.0f allocs, %.0f kB", allocs, bytes/1e3), "tracked, no goal")

	step("packaging: go run ./cmd/package")
	size, err := bench.PackageSize(dir)
	if err != nil {
		return err
	}
	t.row("dist/function.zip", fmt.Sprintf("%.2f MB (%d bytes)", float64(size)/1e6, size), "≤ 6 MB", size <= 6e6)
	t.footer = fmt.Sprintf("measured in %.0f s", time.Since(begin).Seconds())
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// shapeText words a bench.Shapes name for the table.
func shapeText(name string) string {
	return map[string]string{
		"documented/id":   "documented answers, by id",
		"documented/name": "documented answers, by name",
		"carrying/name":   "answers carrying data, by name",
	}[name]
}

func callsText(r bench.RotationResult) string {
	text := fmt.Sprintf("%.2f (%d calls: %d ListSecrets, %d DescribeSecret, for %d secret(s); %.2f s)", r.CallsPerSecret(), r.Calls.SAE,
		r.Calls.ByAction["ListSecrets"], r.Calls.ByAction["DescribeSecret"], r.Rotated, r.Wall.Seconds())
	if r.Failed() > 0 {
		text += fmt.Sprintf("; %d FAILED (%s; e.g. %q)", r.Failed(), bench.FailureText(r.Failures), r.FailureSample)
	}
	return text
}

// machine describes where the figures were measured.
func machine(s bench.Scale) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("Machine: %d CPU (%s), %s, %s/%s, load average %s at the start. Quota: %d calls per %v (the minute scaled %gx down), freshness %v (10 s scaled alike): %g paced calls a window, m = %d.",
		runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, load, s.Calls, s.Window, s.Factor(), s.Freshness(),
		s.Freshness().Seconds()*s.PacedRate(), s.M(s.Freshness()))
}

type table struct {
	header, footer string
	rows           [][4]string
	missed         int
}

func (t *table) row(figure, measured, goal string, met bool) {
	verdict := "yes"
	if !met {
		verdict = "**no**"
		t.missed++
	}
	t.rows = append(t.rows, [4]string{figure, measured, goal, verdict})
}

func (t *table) info(figure, measured, goal string) {
	t.rows = append(t.rows, [4]string{figure, measured, goal, "—"})
}

func (t *table) print() {
	if t.header != "" {
		fmt.Println(t.header)
		fmt.Println()
	}
	fmt.Println("| figure | measured | goal | met |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, r := range t.rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	if t.footer != "" {
		fmt.Println()
		fmt.Println(t.footer)
	}
}
