package port_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sae-secret-rotator/rotator/"

// The adapters import the ports and never the engine; the ports import
// nothing of the module.
func TestAdaptersImportThePortsNotTheEngine(t *testing.T) {
	// internal/catalog is the wiring that hands the adapters to the engine.
	wiring := map[string]bool{"internal/catalog": true, "internal/fnbuild": true}
	adapters := 0
	for _, root := range []string{"../../internal", "../../dockercfg", "."} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel("../..", filepath.Dir(path))
			rel = filepath.ToSlash(rel)
			if wiring[rel] {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			adapters++
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				switch {
				case p == module+"rotation":
					t.Errorf("%s imports the engine (%s): adapters import %srotation/port", path, p, module)
				case rel == "rotation/port" && strings.HasPrefix(p, module):
					t.Errorf("%s: the ports import %s; they import nothing of the module", path, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if adapters < 20 {
		t.Fatalf("found only %d files to check: the walk is broken", adapters)
	}
}
