package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Bad command-line input: the binary exits 2, prints one report naming the
// problem on stdout, and writes nothing but JSON log lines to stderr.
func TestCommandLineRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		args  []string
		stdin func(t *testing.T) io.Reader
		want  string // in error.message
	}{
		{"no flags", nil, nil, "-event is required"},
		{"unknown flag", []string{"-bogus"}, nil, "-bogus"},
		{"bad timeout", []string{"-event", "-", "-timeout", "nonsense"}, nil, `invalid value "nonsense" for flag -timeout`},
		{"missing file", []string{"-event", "does-not-exist.json"}, nil,
			`cannot read the event file "does-not-exist.json": no such file or directory`},
		{"directory", []string{"-event", "events"}, nil, `cannot read the event file "events": is a directory`},
		{"stdin not JSON", []string{"-event", "-"}, func(*testing.T) io.Reader { return strings.NewReader("rotate everything") },
			"stdin: the event is malformed JSON at line 1, column 1 (byte offset 0)"},
		{"stdin unreadable", []string{"-event", "-"}, func(t *testing.T) io.Reader {
			f, err := os.Open(t.TempDir()) // reading a directory fails
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.Close() })
			return f
		}, "cannot read the event from stdin: is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Mkdir(dir+"/events", 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, tc.args...)
			cmd.Dir = dir
			// No credentials, and an endpoint nothing listens on: these runs
			// must not reach a cloud.
			cmd.Env = append(fnbuild.CleanEnv(), "ROTATOR_CONFIG="+config(target("prod-pull", byID(nsProd, 1))),
				"ROTATOR_SAE_ENDPOINT=http://127.0.0.1:1", "ROTATOR_CR_ENDPOINT=http://127.0.0.1:1")
			if tc.stdin != nil {
				cmd.Stdin = tc.stdin(t)
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("exit: %v, want exit status 2", err)
			}
			checkRefusalReport(t, stdout.Bytes(), tc.want)
			checkJSONLogLines(t, stderr.Bytes())
		})
	}
}

// checkRefusalReport asserts stdout is exactly one line: a report refusing
// the invocation with InvalidEvent, an empty results list and a requestId.
func checkRefusalReport(t *testing.T, out []byte, want string) {
	t.Helper()
	line, ok := bytes.CutSuffix(out, []byte("\n"))
	if !ok || bytes.Contains(line, []byte("\n")) {
		t.Fatalf("stdout is not exactly one line:\n%s", out)
	}
	var rep rotation.Report
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, out)
	}
	if rep.Error == nil || rep.Error.Code != rotation.InvalidEvent || !strings.Contains(rep.Error.Message, want) {
		t.Errorf("report error %+v, want InvalidEvent containing %q", rep.Error, want)
	}
	if rep.RequestID == "" {
		t.Error("the report has no requestId")
	}
	var raw struct {
		Results json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(line, &raw); err != nil || string(raw.Results) != "[]" {
		t.Errorf(`report results %s, want []`, raw.Results)
	}
}

// checkJSONLogLines asserts every non-empty line is a zap log object, and
// that the refusal itself was logged as an error.
func checkJSONLogLines(t *testing.T, out []byte) {
	t.Helper()
	refused := false
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil || m["level"] == nil || m["msg"] == nil {
			t.Errorf("stderr line is not a JSON log line: %s", line)
			continue
		}
		if m["level"] == "error" && m["code"] == string(rotation.InvalidEvent) {
			refused = true
		}
	}
	if !refused {
		t.Errorf("no error log line with code InvalidEvent on stderr:\n%s", out)
	}
}
