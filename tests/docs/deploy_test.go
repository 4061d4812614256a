package docs_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/rotation"
)

// The deploy guide leads to docs/report.md for the report instead of
// copying it: its "Logs and reports" section links report.md, which names
// every status, login outcome and failure code a report can carry, and the
// guide lists no failure code of its own (a copy that would drift).
func TestDeployDocLeadsToTheReport(t *testing.T) {
	guide := read(t, filepath.Join(root, "docs", "deploy.md"))
	_, rest, ok := strings.Cut(guide, "<!-- deploy:begin -->")
	deploy, _, ok2 := strings.Cut(rest, "<!-- deploy:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/deploy.md: no <!-- deploy:begin --> ... <!-- deploy:end --> section")
	}
	_, logs, ok := strings.Cut(deploy, "## 4. Logs and reports")
	if !ok {
		t.Fatal(`docs/deploy.md: no "## 4. Logs and reports" section`)
	}
	if !strings.Contains(logs, "](report.md)") {
		t.Error(`docs/deploy.md: "Logs and reports" does not link report.md`)
	}
	report := read(t, filepath.Join(root, "docs", "report.md"))
	words := []string{rotation.StatusRotated, rotation.StatusPlanned, rotation.StatusSkipped, rotation.StatusFailed,
		rotation.LoginOK, rotation.LoginUnreachable, rotation.LoginSkipped, rotation.ReasonCooldown, "changes"}
	for _, c := range rotation.AllCodes {
		words = append(words, string(c))
	}
	for _, w := range words {
		if !strings.Contains(report, "`"+w+"`") {
			t.Errorf("docs/report.md does not name %q", w)
		}
	}
	for _, c := range rotation.AllCodes {
		if strings.Contains(deploy, "`"+string(c)+"`") {
			t.Errorf("docs/deploy.md names the failure code %q: leave the list to docs/report.md", c)
		}
	}
}
