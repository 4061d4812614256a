package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// run runs the binary with env (on a clean environment) in dir and returns
// what it printed and its exit code.
func run(t *testing.T, dir string, env []string, stdin string, args ...string) (stdout, stderr []byte, exit int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(fnbuild.CleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if bytes.Contains(errOut.Bytes(), []byte("WARNING: DATA RACE")) {
		t.Error("the binary reported a data race")
	}
	return out.Bytes(), errOut.Bytes(), exit
}

// checkReport decodes what -check printed.
func checkReport(t *testing.T, out []byte) catalog.CheckReport {
	t.Helper()
	var rep catalog.CheckReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("-check printed no check report: %v\n%s", err, out)
	}
	return rep
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := fnbuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// emulatorEnv is the environment cmd/emulator prints for the examples, with
// every endpoint at emu.
func emulatorEnv(emu *emulator.Server) []string {
	env := []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliKey.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliKey.AccessKeySecret,
		"HUAWEICLOUD_SDK_AK=" + emulator.DefaultHuaweiCredential.AK, "HUAWEICLOUD_SDK_SK=" + emulator.DefaultHuaweiCredential.SK,
		"TENCENTCLOUD_SECRET_ID=" + emulator.DefaultTencentCredential.SecretID, "TENCENTCLOUD_SECRET_KEY=" + emulator.DefaultTencentCredential.SecretKey}
	for _, s := range []string{"SAE", "CR", "REGISTRY", "KMS", "STS", "CSMS", "SSM"} {
		env = append(env, "ROTATOR_"+s+"_ENDPOINT="+emu.URL())
	}
	return env
}

// `main -check` on the example configuration, alone and with each example
// event: it passes, lists every target and secret, names the example's
// placeholder account id, and calls no cloud.
func TestCheckExamples(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	root := repoRoot(t)
	env := append(emulatorEnv(w.emu), "ROTATOR_CONFIG_FILE="+filepath.Join(root, "examples", "rotator.yaml"))
	wantSecrets := exampleSecrets(t, root)
	for _, tc := range []struct {
		event  string
		action string
		dryRun bool
		trig   string
	}{{"", "", false, ""}, {"plan.json", rotation.ActionPlan, true, rotation.TriggerManual},
		{"rotate.json", rotation.ActionRotate, false, rotation.TriggerManual}, {"timer.json", rotation.ActionRotate, false, rotation.TriggerTimer}} {
		args := []string{"-check"}
		if tc.event != "" {
			args = append(args, "-event", filepath.Join(root, "examples", tc.event))
		}
		stdout, stderr, exit := run(t, t.TempDir(), env, "", args...)
		w.guard.WatchBytes("-check stdout", stdout)
		w.guard.WatchBytes("-check stderr", stderr)
		rep := checkReport(t, stdout)
		if exit != 0 || !rep.OK || rep.Error != nil {
			t.Fatalf("%v: exit %d, %+v; want exit 0 and ok", args, exit, rep)
		}
		var names []string
		for _, tg := range rep.Targets {
			names = append(names, tg.Name+" "+tg.Source)
		}
		if strings.Join(names, ", ") != "demo-pull acr-ee cri-demo, personal-pull acr-personal cn-hangzhou" || rep.Secrets != wantSecrets {
			t.Errorf("%v: targets %q and %d secrets, want the example's two targets and %d secrets", args, names, rep.Secrets, wantSecrets)
		}
		if len(rep.Environment) != 0 || rep.Credentials != "" {
			t.Errorf("%v: environment %q, credentials %q: the emulator's environment is complete", args, rep.Environment, rep.Credentials)
		}
		if want := []string{`targets[0].source.assumeRole: "acs:ram::1234567890123456:role/acr-token-minter"`}; !reflect.DeepEqual(rep.Placeholders, want) {
			t.Errorf("%v: placeholders %q, want %q", args, rep.Placeholders, want)
		}
		switch ev := rep.Event; {
		case tc.event == "" && ev != nil:
			t.Errorf("-check alone reports an event: %+v", ev)
		case tc.event != "" && (ev == nil || ev.Action != tc.action || ev.DryRun != tc.dryRun || ev.Trigger != tc.trig ||
			strings.Join(ev.Targets, ",") != "demo-pull,personal-pull"):
			t.Errorf("%v: event %+v, want %s %s (dryRun %v) of both targets", args, ev, tc.trig, tc.action, tc.dryRun)
		}
		if n := nonJSONLines(stderr); n > 0 {
			t.Errorf("%v: %d stderr lines are not JSON:\n%s", args, n, stderr)
		}
		if !bytes.Contains(stderr, []byte(`"msg":"check passed, with warnings"`)) {
			t.Errorf("%v: no log line says the check passed:\n%s", args, stderr)
		}
	}
	// The shipped template passes too, its placeholder named.
	stdout, _, exit := run(t, root, append(emulatorEnv(w.emu), "ROTATOR_CONFIG_FILE=deploy/rotator.yaml"), "", "-check")
	if rep := checkReport(t, stdout); exit != 0 || !rep.OK || len(rep.Placeholders) != 1 || !strings.Contains(rep.Placeholders[0], "cri-xxxxxxxxxxxxxxxx") {
		t.Errorf("deploy/rotator.yaml: exit %d, %+v; want ok with its placeholder instance id named", exit, rep)
	}
	if n := len(w.emu.Calls()); n != 0 {
		t.Errorf("-check made %d API calls, want none", n)
	}
}

// What an invocation would refuse, -check refuses with the same code and
// words, exit 2, before any call.
func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	good := config(target("prod-pull", byID(nsProd, 1)))
	base := []string{"ROTATOR_SAE_ENDPOINT=" + w.emu.URL(), "ROTATOR_CR_ENDPOINT=" + w.emu.URL()}
	dir := t.TempDir()
	for name, content := range map[string]string{"typo.yaml": "targets:\n  - name: prod-pull\n    source: {type: acr-ee, instanceID: cri-abc, regionId: cn-hangzhou}\n    secrets: [{namespaceId: \"cn-hangzhou:prod\", secretId: 16}]\n",
		"malformed.json": `{"action":"plan",}`, "unknown-target.json": `{"action":"rotate","targets":["nope"]}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ssm := config(target("prod-pull", `{"store":"ssm","region":"ap-guangzhou","secretName":"acr-pull","versionId":"current"}`))
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code rotation.Code
		want string
	}{
		{"misspelled field", []string{"ROTATOR_CONFIG_FILE=typo.yaml"}, nil, rotation.InvalidConfig, "typo.yaml: targets[0].source.instanceID: unknown field"},
		{"no configuration", nil, nil, rotation.InvalidConfig, "no configuration: set ROTATOR_CONFIG"},
		{"both configurations", []string{"ROTATOR_CONFIG=" + good, "ROTATOR_CONFIG_FILE=typo.yaml"}, nil, rotation.InvalidConfig, "set only one of"},
		{"a store's keys missing", []string{"ROTATOR_CONFIG=" + ssm}, nil, rotation.InvalidConfig, "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"},
		{"clear-text endpoint", []string{"ROTATOR_CONFIG=" + good, "ROTATOR_SAE_ENDPOINT=http://sae.example.com"}, nil, rotation.InvalidConfig, "loopback"},
		{"clear-text registry", []string{"ROTATOR_CONFIG=" + good, "ROTATOR_REGISTRY_ENDPOINT=http://registry.example.com"}, nil, rotation.InvalidConfig, "ROTATOR_REGISTRY_ENDPOINT"},
		{"malformed event", []string{"ROTATOR_CONFIG=" + good}, []string{"-event", "malformed.json"}, rotation.InvalidEvent,
			`event file "malformed.json": the event is malformed JSON at line 1, column 18 (byte offset 17)`},
		{"unknown target", []string{"ROTATOR_CONFIG=" + good}, []string{"-event", "unknown-target.json"}, rotation.UnknownTarget, `no target is named "nope"`},
		{"missing event file", []string{"ROTATOR_CONFIG=" + good}, []string{"-event", "nope.json"}, rotation.InvalidEvent, `cannot read the event file "nope.json"`},
	} {
		stdout, stderr, exit := run(t, dir, append(base, tc.env...), "", append([]string{"-check"}, tc.args...)...)
		rep := checkReport(t, stdout)
		if exit != 2 || rep.OK || rep.Error == nil || rep.Error.Code != tc.code || !strings.Contains(rep.Error.Message, tc.want) {
			t.Errorf("%s: exit %d, ok %v, error %+v; want exit 2 and %s saying %q", tc.name, exit, rep.OK, rep.Error, tc.code, tc.want)
		}
		if n := nonJSONLines(stderr); n > 0 || !bytes.Contains(stderr, []byte(`"level":"error"`)) {
			t.Errorf("%s: stderr is not JSON log lines with the error:\n%s", tc.name, stderr)
		}
	}
	if n := len(w.emu.Calls()); n != 0 {
		t.Errorf("-check made %d API calls, want none", n)
	}
}

// -version and -h: for people, not for log collectors.
func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := run(t, t.TempDir(), nil, "", "-version")
	line := string(stdout)
	// The tests build as cmd/package does, with -buildvcs=false: no revision is known.
	if exit != 0 || len(stderr) != 0 || strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "sae-secret-rotator (devel) (github.com/sae-secret-rotator/rotator), unknown revision, go1.") {
		t.Errorf("-version: exit %d, stdout %q, stderr %q", exit, stdout, stderr)
	}
	for _, flag := range []string{"-h", "-help"} {
		stdout, stderr, exit := run(t, t.TempDir(), nil, "", flag)
		if exit != 0 || len(stdout) != 0 {
			t.Errorf("%s: exit %d, stdout %q; want exit 0 and nothing on stdout", flag, exit, stdout)
		}
		for _, want := range []string{"Usage:", "main -event FILE", "main -check", "main -version", "ROTATOR_CONFIG_FILE",
			"ALIBABA_CLOUD_ACCESS_KEY_ID", "HUAWEICLOUD_SDK_AK", "TENCENTCLOUD_SECRET_ID", "ROTATOR_LOG_LEVEL", "Exit codes: 0", "2 bad input", "docs/"} {
			if !bytes.Contains(stderr, []byte(want)) {
				t.Errorf("%s: the help does not say %q:\n%s", flag, want, stderr)
			}
		}
		if bytes.HasPrefix(stderr, []byte("{")) {
			t.Errorf("%s: the help is a log line:\n%s", flag, stderr)
		}
	}
}

// A malformed event file is named, with the position of the error, never
// its content; on stdin likewise.
func TestMalformedEventNamesTheFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), []byte("{\"action\":\"plan\",\n \"reason\":\"password123\" x}"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"ROTATOR_CONFIG=" + config(target("prod-pull", byID(nsProd, 1))), "ROTATOR_SAE_ENDPOINT=" + w.emu.URL()}
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"-event", "plan.json"}, "", `event file "plan.json": the event is malformed JSON at line 2, column 25 (byte offset 42)`},
		{[]string{"-event", "-"}, `{"action":"plan",}`, "stdin: the event is malformed JSON at line 1, column 18 (byte offset 17)"},
		{[]string{"-event", "-"}, ``, "stdin: the event is empty"},
	} {
		stdout, stderr, exit := run(t, dir, env, tc.stdin, tc.args...)
		if exit != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, exit)
		}
		checkRefusalReport(t, stdout, tc.want)
		checkJSONLogLines(t, stderr)
		if bytes.Contains(append(stdout, stderr...), []byte("password123")) {
			t.Errorf("%v: the event's content was printed", tc.args)
		}
	}
	if n := len(w.emu.Calls()); n != 0 {
		t.Errorf("%d API calls for a malformed event", n)
	}
}
