package docs_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/rotation"
)

// The deploy guide says what docs/report.md says: every status, login
// outcome and failure code a report can carry.
func TestDeployDocAgreesWithTheReport(t *testing.T) {
	guide := read(t, filepath.Join(root, "docs", "deploy.md"))
	_, rest, ok := strings.Cut(guide, "<!-- deploy:begin -->")
	deploy, _, ok2 := strings.Cut(rest, "<!-- deploy:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/deploy.md: no <!-- deploy:begin --> ... <!-- deploy:end --> section")
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
		if !strings.Contains(deploy, "`"+w+"`") {
			t.Errorf("docs/deploy.md: does not name %q, which docs/report.md documents", w)
		}
	}
}
