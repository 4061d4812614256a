package secretguard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// recorder is a testing.TB that keeps what would have failed the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any) { r.errors = append(r.errors, fmt.Sprint(args...)) }
func (r *recorder) Helper()           {}

func TestGuardFindsCredentialsWithoutPrintingThem(t *testing.T) {
	emu, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	rec := &recorder{TB: t}
	g := &Guard{t: rec, emu: emu}
	g.Add("seeded-password-value")
	clean, leaky := &Buffer{}, &Buffer{}
	g.Watch("clean output", clean)
	g.Watch("leaky output", leaky)
	fmt.Fprintln(clean, `{"msg":"secret rotated"}`)
	fmt.Fprintln(leaky, `{"msg":"oops","password":"seeded-password-value"}`)
	g.Check()
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "leaky output") || strings.Contains(rec.errors[0], "seeded-password-value") {
		t.Fatalf("Check reported %q", rec.errors)
	}
	rec.errors = nil
	g.Errorf("got %s", "seeded-password-value")
	if len(rec.errors) != 1 || strings.Contains(rec.errors[0], "seeded-password-value") || !strings.Contains(rec.errors[0], "held a credential") {
		t.Fatalf("Errorf reported %q", rec.errors)
	}
}
