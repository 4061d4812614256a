// Package fnbuild builds the function binary the way it ships, and gives
// the tools that run it (the packager, tests, benchmarks) a clean
// environment. It exists so those tools cannot drift apart.
package fnbuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleRoot finds the directory of go.mod from the working directory up,
// so the tools work from any folder of the repository.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// ShipFlags build the handler for FC's go1 runtime with every input that
// varies between machines or checkouts stripped: paths (-trimpath), VCS
// stamps (-buildvcs=false) and the build id, so builds are reproducible.
var ShipFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid="}

// Build compiles ./function of the module at root into out. With goos and
// goarch empty it builds for this machine (to run here); extra flags (such
// as -race) come before ShipFlags. The output of go build is returned in
// the error.
func Build(root, out, goos, goarch string, extra ...string) error {
	args := append([]string{"build"}, extra...)
	args = append(args, ShipFlags...)
	args = append(args, "-o", out, "./function")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if !contains(extra, "-race") {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0") // static: nothing to load at cold start
	}
	if goos != "" {
		cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./function: %v\n%s", err, b)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CleanEnv is this process's environment without anything that could steer
// the function elsewhere: cloud credentials, rotator settings, FC variables.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "ALIBABA_CLOUD_") && !strings.HasPrefix(k, "ROTATOR_") && !strings.HasPrefix(k, "FC_") &&
			!strings.HasPrefix(k, "TENCENTCLOUD_") {
			env = append(env, kv)
		}
	}
	return env
}
