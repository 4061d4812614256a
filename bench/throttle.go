package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Throttled is a throttling scenario: one secret whose UpdateSecret is
// answered Throttling.User Throttles times in a row, at SAE's real quota.
type Throttled struct {
	Scale     Scale // the quota; Production unless set
	Throttles int
	Wait      time.Duration // the function's throttleWait
	Emergency bool
}

// ThrottledResult is how the one secret ended and when.
type ThrottledResult struct {
	Wall time.Duration // from the invocation to its report
	// Throttled is from the first throttled answer to the last try before
	// the function gave up: the time it spent on throttling, without the
	// calls before it or the report after it.
	Throttled time.Duration
	// LastTry is from the invocation to the last throttled try, and MaxGap
	// the longest time between two throttled tries: the emergency promise
	// (at most about 5 s apart, given up within a minute) as a user meets it.
	LastTry, MaxGap time.Duration
	Status          string
	Code            rotation.Code
	Message         string
}

// RunThrottled runs a throttling scenario with the real binary.
func RunThrottled(bin string, spec Throttled) (ThrottledResult, error) {
	if spec.Scale.Calls == 0 {
		spec.Scale = Production
	}
	emu, err := StartEmulator(spec.Scale)
	if err != nil {
		return ThrottledResult{}, err
	}
	defer emu.Close()
	refs, err := Seed(emu, "throttle", 1, 1)
	if err != nil {
		return ThrottledResult{}, err
	}
	cfg := fmt.Sprintf(`{"throttleWait":%q,"quota":{"calls":%d,"per":%q},"freshness":%q,"targets":[{"name":"bench","source":{"type":"acr-ee","instanceId":%q,"regionId":%q},"secrets":[{"namespaceId":%q,"secretId":%d}]}]}`,
		spec.Wait.String(), spec.Scale.Calls, spec.Scale.Window.String(), spec.Scale.Freshness().String(), instanceID, region, refs[0].Namespace, refs[0].ID)
	f, err := StartFunction(bin, emu, emu, cfg)
	if err != nil {
		return ThrottledResult{}, err
	}
	defer f.Stop()
	if err := waitReady(emu, f); err != nil {
		return ThrottledResult{}, err
	}
	emu.SetFault("UpdateSecret", emulator.Fault{Throttle: spec.Throttles})
	event := []byte(`{"action":"rotate"}`)
	if spec.Emergency {
		event = []byte(`{"action":"rotate","emergency":true,"reason":"bench"}`)
	}
	start := time.Now()
	rep, err := invokeWith(emu, f, event)
	end := time.Now()
	if err != nil {
		return ThrottledResult{}, err
	}
	if len(rep.Results) != 1 {
		return ThrottledResult{}, fmt.Errorf("%d results, want 1", len(rep.Results))
	}
	r := ThrottledResult{Wall: end.Sub(start), Status: rep.Results[0].Status}
	var first, prev time.Time
	for _, c := range emu.Calls() {
		if strings.HasPrefix(c.Code, "Throttling") {
			if first.IsZero() {
				first = c.Time
			} else {
				r.MaxGap = max(r.MaxGap, c.Time.Sub(prev))
			}
			prev = c.Time
			r.Throttled, r.LastTry = c.Time.Sub(first), c.Time.Sub(start)
		}
	}
	if e := rep.Results[0].Error; e != nil {
		r.Code, r.Message = e.Code, e.Message
	}
	return r, nil
}
