package rotation

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxHops bounds how often a reader following one invocation from
// Rotator.Run goes back to a file of this package that they had left
// (issue 21: 34 before the engine was laid out by stage).
const maxHops = 15

// TestFileHops follows one invocation's path through the package's code
// statically: from (*Rotator).Run, every call of a function or method of
// this package, in source order, is read at its first call (later calls
// of it are known already), and each return to a file the walk had left
// counts as a hop.
func TestFileHops(t *testing.T) {
	steps := fileHops(t, ".")
	path, hops := count(steps, false)
	if hops > maxHops {
		t.Errorf("following Rotator.Run enters a file it had left %d times, more than %d; the files in path order:\n%s", hops, maxHops, strings.Join(path, "\n"))
	}
	t.Logf("%d hops; the files in path order: %s", hops, strings.Join(path, " "))
	if testing.Verbose() {
		for _, s := range steps {
			if !s.ret {
				t.Logf("  %s %s", s.file, s.fn)
			}
		}
	}
	// For comparison only: each return from a call into another file
	// counted too (a reader who goes back to the caller to read on).
	withReturns, all := count(steps, true)
	t.Logf("counting returns too: %d hops over %d steps", all, len(withReturns))
}

// fileHops walks the package in dir (go test runs in the package's
// directory) and returns its steps, in order.
func fileHops(t *testing.T, dir string) []step {
	t.Helper()
	if d := os.Getenv("HOPS_DIR"); d != "" {
		dir = d // to measure another tree (the code before a change)
	}
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(matches)
	var files []*ast.File
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, m, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// Only the package's own functions are followed: its imports are left
	// empty (type-checking them from source takes seconds), and the errors
	// that leaves are expected.
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}, Selections: map[*ast.SelectorExpr]*types.Selection{}}
	conf := types.Config{Importer: emptyImporter{}, Error: func(error) {}}
	pkg, _ := conf.Check("rotation", fset, files, info)
	// Every function and method declared in the package, by its object.
	decls := map[types.Object]*ast.FuncDecl{}
	var run *ast.FuncDecl
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			obj := pkg.Scope().Lookup(fd.Name.Name)
			if fd.Recv != nil {
				obj = methodObject(pkg, fd)
			}
			if obj != nil {
				decls[obj] = fd
			}
			if fd.Recv != nil && fd.Name.Name == "Run" && recvName(fd) == "Rotator" {
				run = fd
			}
		}
	}
	if run == nil {
		t.Fatal("no (*Rotator).Run")
	}
	fileOf := func(n ast.Node) string { return filepath.Base(fset.Position(n.Pos()).Filename) }
	var steps []step
	visit := func(file string, ret bool, fn string) { steps = append(steps, step{file, ret, fn}) }
	seen := map[*ast.FuncDecl]bool{}
	var walk func(fd *ast.FuncDecl)
	// inspect reads n as Go evaluates it: a call's receiver and arguments,
	// then the call, followed into its function at its first call.
	var inspect func(n ast.Node, file string)
	inspect = func(n ast.Node, file string) {
		ast.Inspect(n, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			callee := decls[calleeOf(call, info)]
			if callee == nil || seen[callee] {
				return true
			}
			if sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr); ok {
				inspect(sel.X, file)
			}
			for _, a := range call.Args {
				inspect(a, file)
			}
			if !seen[callee] {
				walk(callee)
				visit(file, true, "")
			}
			return false
		})
	}
	walk = func(fd *ast.FuncDecl) {
		seen[fd] = true
		file := fileOf(fd)
		visit(file, false, fd.Name.Name)
		inspect(fd.Body, file)
	}
	walk(run)
	return steps
}

// emptyImporter imports every package as an empty one.
type emptyImporter struct{}

func (emptyImporter) Import(path string) (*types.Package, error) {
	p := types.NewPackage(path, filepath.Base(path))
	p.MarkComplete()
	return p, nil
}

// step is one move of the walk: into a function's file, or back to the
// caller's (ret).
type step struct {
	file string
	ret  bool
	fn   string // the function entered (not on returns)
}

// count is how often a walk enters a file it had left before: by a call
// only (returns false), or by calls and returns from them (true).
func count(steps []step, returns bool) (path []string, hops int) {
	been := map[string]bool{}
	for _, s := range steps {
		f := s.file
		if s.ret && !returns {
			continue
		}
		if len(path) > 0 && path[len(path)-1] == f {
			continue
		}
		if been[f] {
			hops++
		}
		been[f] = true
		path = append(path, f)
	}
	return path, hops
}

// calleeOf is the function or method a call names, if it names one.
func calleeOf(call *ast.CallExpr, info *types.Info) types.Object {
	var obj types.Object
	switch fn := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		obj = info.Uses[fn]
	case *ast.SelectorExpr:
		if sel := info.Selections[fn]; sel != nil {
			obj = sel.Obj()
		} else {
			obj = info.Uses[fn.Sel]
		}
	case *ast.IndexExpr: // a generic function's instance
		if id, ok := fn.X.(*ast.Ident); ok {
			obj = info.Uses[id]
		}
	}
	if fn, ok := obj.(*types.Func); ok {
		obj = fn.Origin()
	}
	return obj
}

func recvName(fd *ast.FuncDecl) string {
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.IndexExpr:
		return x.X.(*ast.Ident).Name
	}
	return ""
}

// methodObject finds a method declaration's object through its receiver's type.
func methodObject(pkg *types.Package, fd *ast.FuncDecl) types.Object {
	tn, ok := pkg.Scope().Lookup(recvName(fd)).(*types.TypeName)
	if !ok {
		return nil
	}
	named, ok := tn.Type().(*types.Named)
	if !ok {
		return nil
	}
	for i := range named.NumMethods() {
		if m := named.Method(i); m.Name() == fd.Name.Name {
			return m
		}
	}
	return nil
}
