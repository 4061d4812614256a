package tests

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/rotation"
)

// fcMarker is what fc-runtime-go-sdk itself prints on stdout around an invocation.
var fcMarker = regexp.MustCompile(`^FC (Invoke|Initialize|PreStop|PreFreeze) (Start|End) RequestId: \S+$`)

// With DEBUG=sdk the Alibaba SDK prints every request it sends, signed
// headers and security token included, to stdout. The command line's
// stdout still holds the report alone, and in FC stdout holds nothing but
// the runtime SDK's markers; the guard finds no secret anywhere.
func TestSDKDebugPrintsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	cfg := config(target("prod-pull", byID(nsProd, id)))

	rep, exit := w.cli(cfg, `{"action":"rotate"}`, "DEBUG=sdk")
	if exit != 0 || rep.Rotated != 1 {
		w.guard.Fatalf("command line: exit %d, %+v", exit, rep)
	}

	f := w.start(cfg, "DEBUG=sdk")
	if rep, failed := f.invoke(`{"action":"rotate"}`, time.Minute); failed || rep.Rotated != 1 {
		w.guard.Fatalf("FC: %+v", rep)
	}
	f.stop() // all it printed is in the buffer once it has exited
	markers := 0
	for _, line := range strings.Split(strings.TrimSpace(string(f.stdout.Bytes())), "\n") {
		if fcMarker.MatchString(line) {
			markers++
		} else if line != "" {
			t.Errorf("the function printed a line on stdout that is not the runtime's marker (%d bytes)", len(line))
		}
	}
	if markers == 0 {
		t.Error("the runtime's markers are gone from stdout")
	}
}

// An event over 1 MiB on the command line is refused unread past its bound.
func TestCommandLineRefusesAnEventOver1MiB(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	event := `{"action":"plan","reason":"` + strings.Repeat("x", 2<<20) + `"}`
	rep, exit := w.cli(config(target("prod-pull", byID(nsProd, id))), event)
	if exit != 2 || rep.Error == nil || rep.Error.Code != rotation.InvalidEvent || !strings.Contains(rep.Error.Message, "1 MiB") {
		t.Fatalf("exit %d, error %+v: want 2 and InvalidEvent naming the bound", exit, rep.Error)
	}
	if n := len(w.emu.Calls()); n != 0 {
		t.Errorf("%d calls for a refused event", n)
	}
}
