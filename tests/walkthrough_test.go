package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
	"github.com/sae-secret-rotator/rotator/rotation"
)

const (
	walkthroughDoc      = "docs/command-line.md"
	walkthroughEmulator = "go run ./cmd/emulator"
	walkthroughBuild    = "go build -o main ./function"
	walkthroughAddr     = "127.0.0.1:18080"
)

// The command line's walkthrough (docs/command-line.md), pasted as written
// into a shell while cmd/emulator runs: the plan and the rotation succeed,
// and the environment it exports is the one cmd/emulator prints.
func TestCommandLineWalkthrough(t *testing.T) {
	t.Parallel()
	root, err := fnbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	steps := walkthroughSteps(t, root)
	dir := t.TempDir()
	emuBin := filepath.Join(dir, "emulator")
	build := exec.Command("go", "build", "-o", emuBin, "./cmd/emulator")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/emulator: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	var exports []string
	for _, s := range steps {
		if strings.HasPrefix(s, "export ") {
			exports = append(exports, strings.ReplaceAll(s, walkthroughAddr, addr))
		}
	}
	// examples/rotator.yaml: the EE instance (minting with an assumed role)
	// for the two acr-pull SAE secrets and the KMS one, Personal Edition for
	// personal-pull.
	want := map[string]string{"cn-hangzhou:prod/acr-pull": "demo-pull", "cn-hangzhou:staging/acr-pull": "demo-pull",
		"kms:cn-hangzhou/acr-pull": "demo-pull", "csms:cn-north-4/acr-pull": "demo-pull", "ssm:ap-guangzhou/acr-pull": "demo-pull", "cn-hangzhou:prod/personal-pull": "personal-pull"}
	printed := startCmdEmulator(t, emuBin, addr, len(exports), 3)
	if want, got := strings.Join(exports, "\n"), strings.Join(printed, "\n"); want != got {
		mask := strings.NewReplacer(emulator.DefaultCredential.AccessKeySecret, "[secret]", emulator.DefaultHuaweiCredential.SK, "[secret]",
			emulator.DefaultTencentCredential.SecretKey, "[secret]")
		t.Errorf("the walkthrough exports\n%s\nbut cmd/emulator printed\n%s", mask.Replace(want), mask.Replace(got))
	}

	// Run from a folder holding the repository's examples, so the built
	// main is not left in the clone; the build line uses the test's binary.
	work := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(work, "examples")); err != nil {
		t.Fatal(err)
	}
	results := runWalkthrough(t, work, steps, addr)

	if n := exampleSecrets(t, root); n != len(want) { // every secret examples/rotator.yaml names
		t.Fatalf("examples/rotator.yaml names %d secrets, the test expects %d", n, len(want))
	}
	// The check passes in the environment the emulator printed, names every
	// secret, and warns only of the example's placeholder account id.
	chk := stepResult(t, results, "./main -check")
	var cr catalog.CheckReport
	if err := json.Unmarshal([]byte(chk.out), &cr); err != nil || chk.exit != 0 || !cr.OK || cr.Secrets != len(want) ||
		len(cr.Environment) != 0 || cr.Credentials != "" || len(cr.Placeholders) != 1 {
		t.Errorf("check: exit %d, %v, report %s; want exit 0, ok, %d secrets and one placeholder", chk.exit, err, chk.out, len(want))
	}
	plan := stepResult(t, results, "./main -event examples/plan.json")
	if rep := plan.report(t); plan.exit != 0 || !rep.DryRun || rep.Planned != len(want) || rep.Rotated != 0 || rep.Failed != 0 {
		t.Errorf("plan: exit %d, report %s; want exit 0, a dry run with %d planned", plan.exit, plan.out, len(want))
	}
	rotate := stepResult(t, results, "./main -event examples/rotate.json")
	rep := rotate.report(t)
	if rotate.exit != 0 || rep.Rotated != len(want) || rep.Failed != 0 || len(rep.Results) != len(want) {
		t.Errorf("rotate: exit %d, report %s; want exit 0 and %d secrets rotated", rotate.exit, rotate.out, len(want))
	}
	for _, r := range rep.Results {
		key := nsOf(r) + "/" + nameOf(r)
		if r.Where.Store != "sae" {
			key = r.Where.Store + ":" + r.Where.Region + "/" + nameOf(r)
		}
		if r.Status != rotation.StatusRotated || want[key] != r.Target {
			t.Errorf("rotate: %s %s/%s %s, want one of %v rotated", r.Target, nsOf(r), nameOf(r), r.Status, want)
		}
	}
	if echo := stepResult(t, results, "echo $?"); strings.TrimSpace(echo.out) != "0" {
		t.Errorf("echo $? printed %q, want 0", echo.out)
	}
}

// exampleSecrets counts the secrets of examples/rotator.yaml.
func exampleSecrets(t *testing.T, root string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "examples", "rotator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rotation.ParseConfig(b, "examples/rotator.yaml", catalog.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tg := range cfg.Targets {
		n += len(tg.Secrets)
	}
	return n
}

// walkthroughSteps returns the lines of the walkthrough that go to the
// second terminal: everything after `go run ./cmd/emulator`.
func walkthroughSteps(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, walkthroughDoc))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- walkthrough:begin -->\\s*```sh\n(.*?)```\\s*<!-- walkthrough:end -->").FindSubmatch(b)
	if m == nil {
		t.Fatal(walkthroughDoc + ": no ```sh block between <!-- walkthrough:begin --> and <!-- walkthrough:end -->")
	}
	lines := strings.Split(strings.TrimRight(string(m[1]), "\n"), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == walkthroughEmulator {
			return lines[i+1:]
		}
	}
	t.Fatalf(walkthroughDoc+": the walkthrough does not start %q", walkthroughEmulator)
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startCmdEmulator runs cmd/emulator on addr until the test ends (then
// interrupts it, as Ctrl-C would) and returns the export lines it printed
// (it waits for exports of them); it must have answered writes UpdateSecret
// calls by then.
func startCmdEmulator(t *testing.T, bin, addr string, exports, writes int) []string {
	t.Helper()
	cmd := exec.Command(bin, "-listen", addr)
	cmd.Env = fnbuild.CleanEnv()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("cmd/emulator did not stop cleanly on an interrupt: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("cmd/emulator ignored an interrupt")
		}
		// It logs every call it answered: the rotation's writes among them.
		if n := strings.Count(string(stderr.Bytes()), "sae UpdateSecret by "+emulator.DefaultCredential.AccessKeyID+" -> 200"); n != writes {
			t.Errorf("cmd/emulator logged %d answered UpdateSecret calls, want %d", n, writes)
		}
		if n := strings.Count(string(stderr.Bytes()), "kms PutSecretValue by "+emulator.DefaultCredential.AccessKeyID+" -> 200"); n != 1 {
			t.Errorf("cmd/emulator logged %d answered PutSecretValue calls, want 1", n)
		}
	})
	var printed []string
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("cmd/emulator stopped after printing %q; stderr:\n%s", printed, stderr.Bytes())
			}
			// The exports end with a comment line saying the cloud is ready.
			if done = strings.HasPrefix(l, "#"); !done {
				printed = append(printed, l)
			}
		case <-timeout:
			t.Fatalf("cmd/emulator printed only %q in 30s", printed)
		}
	}
	go func() { // drain anything later
		for range lines {
		}
	}()
	return printed
}

type stepOutcome struct {
	out  string
	exit int
}

func (s stepOutcome) report(t *testing.T) rotation.Report {
	t.Helper()
	var rep rotation.Report
	if err := json.Unmarshal([]byte(s.out), &rep); err != nil {
		t.Fatalf("not a report: %v\n%s", err, s.out)
	}
	return rep
}

func stepResult(t *testing.T, results map[string]stepOutcome, prefix string) stepOutcome {
	t.Helper()
	for line, r := range results {
		if strings.HasPrefix(line, prefix) {
			return r
		}
	}
	t.Fatalf("the walkthrough has no step %q, or it did not run", prefix)
	return stepOutcome{}
}

// runWalkthrough runs the steps in one bash, verbatim but for the port and
// the build, and returns each command's stdout and exit status by line.
func runWalkthrough(t *testing.T, dir string, steps []string, addr string) map[string]stepOutcome {
	t.Helper()
	var script strings.Builder
	built := false
	for i, line := range steps {
		cmdLine := line
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case trimmed == walkthroughBuild:
			cmdLine, built = `cp "$WALKTHROUGH_BINARY" main`, true
		case strings.HasPrefix(trimmed, "export "):
			cmdLine = strings.ReplaceAll(line, walkthroughAddr, addr)
		}
		// Markers around each step; (exit $__s) keeps $? for the next line.
		fmt.Fprintf(&script, "__s=$?; printf '\\n@@begin %d\\n'; (exit $__s)\n%s\n__s=$?; printf '\\n@@end %d %%d\\n' $__s; (exit $__s)\n",
			i, cmdLine, i)
	}
	if !built {
		t.Fatalf("the walkthrough does not build the command line with %q", walkthroughBuild)
	}
	path := filepath.Join(t.TempDir(), "walkthrough.sh")
	if err := os.WriteFile(path, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", path)
	cmd.Dir = dir
	cmd.Env = append(fnbuild.CleanEnv(), "WALKTHROUGH_BINARY="+binary)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil && ctx.Err() != nil {
		t.Fatalf("the walkthrough did not finish in 2 minutes")
	}
	if bytes.Contains(stderr.Bytes(), []byte("WARNING: DATA RACE")) {
		t.Error("the command line reported a data race")
	}
	// The seeded logins and the access key must not be printed.
	for _, s := range []string{"docker-hub-password", "expired-token", emulator.DefaultCredential.AccessKeySecret, emulator.DefaultHuaweiCredential.SK} {
		if bytes.Contains(stdout.Bytes(), []byte(s)) || bytes.Contains(stderr.Bytes(), []byte(s)) {
			t.Errorf("the walkthrough printed a seeded credential")
		}
	}

	results := map[string]stepOutcome{}
	re := regexp.MustCompile(`(?s)@@begin (\d+)\n(.*?)\n@@end (\d+) (\d+)\n`)
	for _, m := range re.FindAllStringSubmatch(stdout.String(), -1) {
		i, _ := strconv.Atoi(m[1])
		exit, _ := strconv.Atoi(m[4])
		if m[1] != m[3] || i >= len(steps) {
			t.Fatalf("garbled step markers in the walkthrough's output")
		}
		results[strings.TrimSpace(steps[i])] = stepOutcome{out: strings.TrimSpace(m[2]), exit: exit}
	}
	return results
}
