package tests

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// A plan says what each write would do: which of the source's hosts it
// adds, which it replaces, and how much else it keeps, by count only.
func TestPlanShowsTheWrite(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	// The public host's entry is spelled as a URL: the merge replaces it.
	cfg := encode(t, map[string]auth{"HTTPS://" + strings.ToUpper(publicHost) + "/": login("cr_temp_user", "old-token-value"),
		"docker.io": login("team", "docker-hub-password")}, map[string]any{"credsStore": "desktop"})
	w.guard.Add("old-token-value", "docker-hub-password")
	a := w.rawSecret(nsProd, "acr-pull", dockerType, map[string]string{".dockerconfigjson": cfg, "note": "kept as it is"})
	b := w.secret(nsStaging, "acr-pull", map[string]auth{}, nil)
	before := []emulator.Secret{w.stored(nsProd, a), w.stored(nsStaging, b)}
	f := w.start(config(target("prod-pull", byID(nsProd, a), byID(nsStaging, b))))

	rep, failed := f.invoke(`{"action":"plan"}`, time.Minute)
	if failed || rep.Planned != 2 || len(rep.Results) != 2 {
		w.guard.Fatalf("plan: failed=%v %+v", failed, rep)
	}
	for i, want := range []rotation.Changes{
		{Added: []string{vpcHost}, Replaced: []string{publicHost}, KeptEntries: 1, KeptKeys: 1, KeptDataKeys: 1},
		{Added: []string{publicHost, vpcHost}, Replaced: []string{}},
	} {
		if got := rep.Results[i].Changes; got == nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("result %d (%s/%d): changes %+v, want %+v", i, nsOf(rep.Results[i]), idOf(rep.Results[i]), got, want)
		}
	}
	if n := len(w.calls("UpdateSecret")); n != 0 || len(w.emu.Tokens()) != 0 {
		t.Errorf("the plan wrote (%d UpdateSecret calls) or minted", n)
	}
	if after := []emulator.Secret{w.stored(nsProd, a), w.stored(nsStaging, b)}; !reflect.DeepEqual(before, after) {
		t.Error("the plan changed a secret")
	}
	// The log line of each planned secret says the same.
	for _, l := range logLines(f.stderr.Bytes()) {
		if l["msg"] == "secret planned" && l["namespaceId"] == nsProd && (fmt.Sprint(l["added"]) != fmt.Sprint([]string{vpcHost}) ||
			fmt.Sprint(l["replaced"]) != fmt.Sprint([]string{publicHost}) || l["keptEntries"] != 1.0) {
			t.Errorf("the planned secret's log line: %v", l)
		}
	}

	// A rotation does what the plan said, and its results carry no plan.
	rep, failed = f.invoke(`{"action":"rotate"}`, time.Minute)
	if failed || rep.Rotated != 2 || rep.Results[0].Changes != nil {
		w.guard.Fatalf("rotate: failed=%v %+v", failed, rep)
	}
	w.holdsToken(nsProd, a, w.onlyToken(), publicHost, vpcHost)
	auths, top := w.dockerConfig(nsProd, a)
	if len(auths) != 3 || auths["docker.io"] != login("team", "docker-hub-password") || string(top["credsStore"]) != `"desktop"` ||
		w.stored(nsProd, a).Data["note"] != "kept as it is" {
		t.Errorf("the rotation did not keep what the plan said it would (%d entries)", len(auths))
	}
}

// A long run says how far it is: one progress line per secret (n of N),
// and a line for each wait of the quota pacer, saying how long and why.
// The quota's minute is scaled to a second, so 100 SAE secrets take seconds.
func TestProgressOfALongRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	const n = 100
	var refs []string
	for i := range n {
		refs = append(refs, byID(nsProd, w.secret(nsProd, fmt.Sprintf("pull-%03d", i), map[string]auth{}, nil)))
	}
	w.emu.SetFault("UpdateSecret", emulator.Fault{Throttle: 1}) // one throttle pause to wait out
	f := w.start(config(target("prod-pull", refs...)))
	rep, failed := f.invoke(timerEvent(""), 2*time.Minute)
	if failed || rep.Rotated != n {
		w.guard.Fatalf("failed=%v rotated %d of %d: %+v", failed, rep.Rotated, n, rep.Results[0])
	}

	seen := map[float64]bool{}
	waits := map[string]int{}
	for _, l := range logLines(f.stderr.Bytes()) {
		switch l["msg"] {
		case "progress":
			num, _ := l["n"].(float64)
			if l["level"] != "info" || l["of"] != float64(n) || num < 1 || num > n || seen[num] || l["status"] != rotation.StatusRotated ||
				l["requestId"] == nil || l["store"] != "sae" || l["target"] != "prod-pull" {
				t.Errorf("progress line: %v", l)
			}
			seen[num] = true
		case "waiting for the pacer":
			d, err := time.ParseDuration(fmt.Sprint(l["wait"]))
			why := fmt.Sprint(l["why"])
			// Waits here are short: debug lines (info only past 5 s).
			if err != nil || d <= 0 || d > 5*time.Second || l["level"] != "debug" || (why != "quota" && why != "throttle") ||
				l["pacer"] == nil || l["api"] == nil || l["requestId"] == nil {
				t.Errorf("pacer wait line: %v", l)
			}
			waits[why]++
		}
	}
	if len(seen) != n {
		t.Errorf("%d progress lines with distinct n, want %d", len(seen), n)
	}
	// 100 secrets cost about 225 SAE calls against a burst of 5: most wait.
	if waits["quota"] < n || waits["throttle"] < 1 {
		t.Errorf("pacer waits logged: %v; want at least %d for the quota and one for the throttle", waits, n)
	}
}
