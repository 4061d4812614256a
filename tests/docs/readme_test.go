package docs_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeMaxLines keeps the README something a newcomer reads in minutes; the
// reference lives in docs/.
const readmeMaxLines = 250

// The README opens with the two commands, stays short, and leads to every
// document in docs/.
func TestREADMEIsShortAndLeadsToTheDocs(t *testing.T) {
	readme := read(t, filepath.Join(root, "README.md"))
	if n := strings.Count(readme, "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move the detail to docs/", n, readmeMaxLines)
	}

	// The first thing after the title: one code block holding the two commands.
	first := regexp.MustCompile("(?s)\\A# [^\n]+\n+```sh\n(.*?)```").FindStringSubmatch(readme)
	if first == nil {
		t.Fatal("README.md does not open with a ```sh block right after its title")
	}
	var cmds []string
	for _, l := range strings.Split(strings.TrimSpace(first[1]), "\n") {
		cmd, _, _ := strings.Cut(l, "#")
		cmds = append(cmds, strings.TrimSpace(cmd))
	}
	if want := []string{"go run ./cmd/demo", "go test -race -count=1 ./..."}; strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("README.md opens with %q, want the two commands %q", cmds, want)
	}

	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md found (%v)", err)
	}
	for _, d := range docs {
		if link := "](docs/" + filepath.Base(d) + ")"; !strings.Contains(readme, link) {
			t.Errorf("README.md does not link docs/%s", filepath.Base(d))
		}
	}
}
