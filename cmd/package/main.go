// Command package builds the Function Compute code package of the rotator:
// a zip holding the handler binary main (linux/amd64, mode 0755) and the
// configuration file rotator.yaml (0644).
//
// It first checks the configuration as every invocation will load it (the
// same check as `main -check`) and refuses to package one that fails, or
// one that still holds a template's placeholders unless told
// -allow-placeholders. The environment it runs in is not the function's:
// what this shell lacks (the other clouds' keys, endpoint overrides) is a
// warning, not a refusal.
//
// The zip is reproducible: the same sources and Go toolchain give the same
// bytes, so its sha256 identifies a release and a redeploy of unchanged code
// is a no-op.
//
//	go run ./cmd/package [-o dist/function.zip] [-config deploy/rotator.yaml] [-allow-placeholders]
package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Names inside the zip: FC runs the handler "main" from the package root, and
// the deploy files set ROTATOR_CONFIG_FILE=rotator.yaml.
const (
	binaryName = "main"
	configName = "rotator.yaml"
)

// epoch is every entry's timestamp: the earliest time a zip can record, so
// the bytes do not depend on when or where the package was built.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// errRefused is a configuration the check refused: exit 2, as the function
// exits for a bad configuration.
var errRefused = errors.New("configuration refused")

func main() {
	out := flag.String("o", filepath.Join("dist", "function.zip"), "output zip path")
	config := flag.String("config", filepath.Join("deploy", "rotator.yaml"), "configuration file to ship as "+configName)
	allow := flag.Bool("allow-placeholders", false, "package a template: placeholder values (cri-xxxxxxxxxxxxxxxx) are a warning, not a refusal")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "package: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(*out, *config, *allow, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		if errors.Is(err, errRefused) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(out, configPath string, allowPlaceholders bool, log io.Writer) error {
	cfg, err := os.ReadFile(configPath)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if len(bytes.TrimSpace(cfg)) == 0 {
		return fmt.Errorf("configuration %s is empty", configPath)
	}
	if err := check(configPath, allowPlaceholders, log); err != nil {
		return err
	}
	root, err := fnbuild.ModuleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "rotator-package-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, binaryName)
	if err := fnbuild.Build(root, bin, "linux", "amd64"); err != nil {
		return err
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return err
	}

	var buf bytes.Buffer
	if err := writeZip(&buf, []entry{
		{name: binaryName, mode: 0o755, data: binData},
		{name: configName, mode: 0o644, data: cfg},
	}); err != nil {
		return err
	}
	if err := writeFileAtomic(out, buf.Bytes()); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	fmt.Printf("%s %d bytes sha256:%s\n", out, buf.Len(), hex.EncodeToString(sum[:]))
	return nil
}

// check runs the function's own configuration check (catalog.Check) on the
// file as the package will ship it, and prints what it would rotate. This
// shell is not the function's environment, hence catalog.Elsewhere.
func check(configPath string, allowPlaceholders bool, log io.Writer) error {
	getenv := func(k string) string {
		switch k {
		case rotation.EnvConfigFile:
			return configPath
		case rotation.EnvConfig:
			return "" // the package ships the file; FC sets only ROTATOR_CONFIG_FILE
		}
		return os.Getenv(k)
	}
	rep := catalog.Check(getenv, catalog.CheckOptions{Where: catalog.Elsewhere})
	for _, line := range strings.Split(strings.TrimRight(rep.Text(), "\n"), "\n") {
		fmt.Fprintln(log, "package:", line)
	}
	if !rep.OK {
		return fmt.Errorf("%w: %s fails the check that every invocation would make: nothing packaged", errRefused, configPath)
	}
	if len(rep.Environment) > 0 {
		fmt.Fprintln(log, "package: warning: this shell is not the function's environment; set what the lines above ask for in the function's (s.yaml environmentVariables, template.yaml), then check it there with `main -check`")
	}
	if len(rep.Placeholders) > 0 {
		if !allowPlaceholders {
			return fmt.Errorf("%w: %s still holds placeholders (%s): edit them, or pass -allow-placeholders to package a template",
				errRefused, configPath, strings.Join(rep.Placeholders, ", "))
		}
		fmt.Fprintln(log, "package: warning: packaged with placeholders (-allow-placeholders): a template, not a deployable package")
	}
	return nil
}

type entry struct {
	name string
	mode os.FileMode
	data []byte
}

// writeZip writes the entries in the given order with fixed timestamps and
// modes, so the output depends only on the entries' contents.
func writeZip(w io.Writer, entries []entry) error {
	zw := zip.NewWriter(w)
	// The smallest package FC fetches at cold start; still deterministic.
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: epoch}
		// SetMode records Unix permissions: FC needs main's run bit.
		h.SetMode(e.mode)
		f, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := f.Write(e.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeFileAtomic replaces path only once the new zip is complete, so an
// interrupted run never leaves a truncated package for `s deploy`.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".function-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
