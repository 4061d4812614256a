// Package docs_test keeps the user documentation honest: every link and
// every named *.md file exists, and every configuration field, failure
// code, status and environment variable of the code is documented.
package docs_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
)

const root = "../.."

// repoFiles lists the repository's text files of the given extensions.
func repoFiles(t *testing.T, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "dist" || d.Name() == "fuzz") {
			return filepath.SkipDir
		}
		for _, e := range exts {
			if !d.IsDir() && strings.HasSuffix(path, e) {
				out = append(out, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	mdLink = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	mdName = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b`)
)

// Relative links in Markdown resolve, and every *.md file named anywhere
// (docs, code, comments, deploy files) exists in the repository.
func TestLinksAndNamedDocsExist(t *testing.T) {
	for _, path := range repoFiles(t, ".md") {
		for _, m := range mdLink.FindAllStringSubmatch(read(t, path), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.ContainsAny(target, "*[]") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
				t.Errorf("%s: the link %q does not resolve", path, target)
			}
		}
	}
	for _, path := range repoFiles(t, ".md", ".go", ".yaml", ".json", ".sh", "run", "Makefile") {
		text := read(t, path)
		for _, name := range mdName.FindAllString(text, -1) {
			if strings.Contains(name, "://") {
				continue
			}
			if !exists(path, name) {
				t.Errorf("%s names %s, which is not in the repository", path, name)
			}
		}
	}
}

// exists finds a named file relative to the naming file, the repository
// root, or (a bare name) anywhere in the repository.
func exists(from, name string) bool {
	for _, p := range []string{filepath.Join(filepath.Dir(from), name), filepath.Join(root, name)} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	found := false
	if !strings.Contains(name, "/") {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			found = found || (err == nil && d.Name() == name)
			return nil
		})
	}
	return found
}

// jsonFields lists the json names of a struct type's fields, recursively
// through struct fields (not through the engine's own entry types).
func jsonFields(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(rotation.Duration{}) {
		return
	}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		into[name] = true
		jsonFields(t.Field(i).Type, into)
	}
}

// Every configuration field of the engine and of every store and source
// kind is in docs/configuration.md, and every kind's name.
func TestConfigurationIsDocumented(t *testing.T) {
	doc := read(t, filepath.Join(root, "docs", "configuration.md"))
	fields := map[string]bool{"type": true, "loginCheck": true, "probeRepository": true, "store": true}
	jsonFields(reflect.TypeOf(rotation.Config{}), fields)
	cat := catalog.Kinds()
	for _, k := range cat.Stores {
		fields[k.Name()] = true
		jsonFields(reflect.TypeOf(k.NewRef()), fields)
	}
	for _, k := range cat.Sources {
		fields[k.Name()] = true
		jsonFields(reflect.TypeOf(k.NewConfig()), fields)
	}
	for _, v := range []string{rotation.LoginAuto, rotation.LoginRequired, rotation.LoginOff} {
		fields[v] = true
	}
	for f := range fields {
		if !strings.Contains(doc, "`"+f+"`") && !strings.Contains(doc, "`"+f+".") && !strings.Contains(doc, "."+f+"`") {
			t.Errorf("docs/configuration.md does not document the field or kind %q", f)
		}
	}
}

// Every failure code, status, login outcome and skip reason is in
// docs/report.md.
func TestReportIsDocumented(t *testing.T) {
	doc := read(t, filepath.Join(root, "docs", "report.md"))
	words := []string{rotation.StatusRotated, rotation.StatusPlanned, rotation.StatusSkipped, rotation.StatusFailed,
		rotation.LoginOK, rotation.LoginUnreachable, rotation.LoginSkipped, rotation.ReasonCooldown}
	for _, c := range rotation.AllCodes {
		words = append(words, string(c))
	}
	fields := map[string]bool{}
	jsonFields(reflect.TypeOf(rotation.Report{}), fields)
	whereMembers(t, fields)
	for f := range fields {
		words = append(words, f)
	}
	for _, w := range words {
		if !strings.Contains(doc, "`"+w+"`") {
			t.Errorf("docs/report.md does not document %q", w)
		}
	}
}

// whereMembers adds the members a result's Where writes for each store of
// the catalog (store, region, and what the store shows, such as SAE's
// namespaceId and secretId): every field of a configuration entry set, so
// that the store shows all it can.
func whereMembers(t *testing.T, into map[string]bool) {
	t.Helper()
	for _, k := range catalog.Kinds().Stores {
		ref := k.NewRef()
		v := reflect.ValueOf(ref).Elem()
		for i := range v.NumField() {
			switch f := v.Field(i); f.Kind() {
			case reflect.String:
				f.SetString("cn-hangzhou")
			case reflect.Int, reflect.Int64:
				f.SetInt(1)
			}
		}
		b, err := json.Marshal(ref.Where())
		var m map[string]any
		if err != nil || json.Unmarshal(b, &m) != nil || m["store"] != k.Name() || m["region"] == nil {
			t.Fatalf("store %s: its Where writes %s (%v)", k.Name(), b, err)
		}
		for name := range m {
			into[name] = true
		}
	}
}

// Every environment variable the code reads is documented.
func TestEnvironmentIsDocumented(t *testing.T) {
	var docs strings.Builder
	for _, p := range repoFiles(t, ".md") {
		if strings.Contains(p, string(filepath.Separator)+"docs"+string(filepath.Separator)) || filepath.Base(p) == "README.md" {
			docs.WriteString(read(t, p))
		}
	}
	quoted := regexp.MustCompile(`"((?:ROTATOR|ALIBABA_CLOUD|HUAWEICLOUD|TENCENTCLOUD|FC)_[A-Z0-9_]+)"`)
	seen := 0
	for _, dir := range []string{"function", "rotation", "internal"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			for _, m := range quoted.FindAllStringSubmatch(read(t, path), -1) {
				seen++
				if !strings.Contains(docs.String(), "`"+m[1]+"`") {
					t.Errorf("%s reads %s, which no doc names", path, m[1])
				}
			}
			return nil
		})
	}
	if seen < 5 {
		t.Fatalf("found only %d environment variables in the code: the scan is broken", seen)
	}
}
