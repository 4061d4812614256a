// Package tests holds the end-to-end tests: they build the real function
// binary, run it under the emulated FC runtime API (or as the command line),
// and assert on the emulator's state and call log.
package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
	"github.com/sae-secret-rotator/rotator/rotation"
	"github.com/sae-secret-rotator/rotator/tests/secretguard"
)

// binary is the function built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rotator-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "main")
	// Built with -race: a race the binary hits fails the test that saw it.
	root, err := fnbuild.ModuleRoot()
	if err == nil {
		err = fnbuild.Build(root, binary, "", "", "-race")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sts is the function role's credential passed by the emulated FC runtime;
// cliKey is the one the command line takes from the environment.
var (
	sts    = emulator.Credential{AccessKeyID: "STS.e2eFunctionRole", AccessKeySecret: "e2e-sts-secret-value", SecurityToken: "e2e-security-token-value"}
	cliKey = emulator.DefaultCredential
)

const (
	instanceID = "cri-e2etest"
	region     = "cn-hangzhou"
	publicHost = "cri-e2etest-registry.cn-hangzhou.cr.aliyuncs.com"
	vpcHost    = "cri-e2etest-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
	// disabledHost belongs to a disabled endpoint: never written.
	disabledHost = "cri-e2etest-old.cn-hangzhou.cr.aliyuncs.com"
	nsProd       = "cn-hangzhou:prod"
	nsStaging    = "cn-hangzhou:staging"
	dockerType   = "kubernetes.io/dockerconfigjson"
)

// world is one test's cloud: an emulator with an ACR instance, plus the
// guard that scans everything printed for credentials.
type world struct {
	t     *testing.T
	emu   *emulator.Server
	guard *Guard
}

func newWorld(t *testing.T) *world {
	t.Helper()
	// The quota's minute is scaled to a second so paced runs take moments.
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{sts, cliKey}, Quota: 60, QuotaWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	emu.AddInstance(emulator.Instance{ID: instanceID, RegionID: region, Endpoints: []emulator.Endpoint{
		{Type: "internet", Enabled: true, Domains: []string{publicHost}},
		{Type: "vpc", Enabled: true, Domains: []string{vpcHost}},
		{Type: "internet", Enabled: false, Domains: []string{disabledHost}},
	}})
	w := &world{t: t, emu: emu, guard: newGuard(t, emu)}
	return w
}

// auth is one auths entry of a docker config.
type auth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

func login(user, pass string) auth {
	return auth{Username: user, Password: pass, Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
}

// encode builds a .dockerconfigjson value.
func encode(t *testing.T, auths map[string]auth, extra map[string]any) string {
	t.Helper()
	cfg := map[string]any{"auths": auths}
	for k, v := range extra {
		cfg[k] = v
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// secret creates a dockerconfigjson secret and tells the guard its credentials.
func (w *world) secret(ns, name string, auths map[string]auth, extra map[string]any, apps ...emulator.App) int64 {
	w.t.Helper()
	enc := encode(w.t, auths, extra)
	for _, a := range auths {
		w.guard.Add(a.Password, a.Auth)
	}
	w.guard.Add(enc)
	id, err := w.emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: name, Type: dockerType,
		Data: map[string]string{".dockerconfigjson": enc}, RelateApps: apps})
	if err != nil {
		w.t.Fatal(err)
	}
	w.guard.Track(ns, id)
	return id
}

// rawSecret creates a secret with the data given as is.
func (w *world) rawSecret(ns, name, typ string, data map[string]string) int64 {
	w.t.Helper()
	for _, v := range data {
		w.guard.Add(v)
	}
	id, err := w.emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: name, Type: typ, Data: data})
	if err != nil {
		w.t.Fatal(err)
	}
	w.guard.Track(ns, id)
	return id
}

// stored returns a secret's stored state.
func (w *world) stored(ns string, id int64) emulator.Secret {
	w.t.Helper()
	s, ok := w.emu.Secret(ns, id)
	if !ok {
		w.t.Fatalf("secret %s/%d is gone", ns, id)
	}
	return s
}

// dockerConfig decodes a stored secret's docker config.
func (w *world) dockerConfig(ns string, id int64) (auths map[string]auth, top map[string]json.RawMessage) {
	w.t.Helper()
	raw, err := base64.StdEncoding.DecodeString(w.stored(ns, id).Data[".dockerconfigjson"])
	if err != nil {
		w.t.Fatalf("secret %s/%d: .dockerconfigjson is not base64", ns, id)
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		w.t.Fatalf("secret %s/%d: .dockerconfigjson is not JSON", ns, id)
	}
	if err := json.Unmarshal(top["auths"], &auths); err != nil {
		w.t.Fatalf("secret %s/%d: auths is not an object of logins", ns, id)
	}
	return auths, top
}

// onlyToken returns the one token minted so far.
func (w *world) onlyToken() emulator.Token {
	w.t.Helper()
	toks := w.emu.Tokens()
	if len(toks) != 1 {
		w.t.Fatalf("%d tokens were minted, want 1", len(toks))
	}
	return toks[0]
}

// holdsToken checks that every host of the secret has the token.
func (w *world) holdsToken(ns string, id int64, tok emulator.Token, hosts ...string) {
	w.t.Helper()
	auths, _ := w.dockerConfig(ns, id)
	want := login(tok.Username, tok.Password)
	for _, h := range hosts {
		if got, ok := auths[h]; !ok {
			w.t.Errorf("secret %s/%d has no entry for %s", ns, id, h)
		} else if got != want {
			// Never print the logins themselves: they are credentials.
			w.t.Errorf("secret %s/%d: the entry for %s does not hold the minted token", ns, id, h)
		}
	}
}

// calls returns the calls of one action.
func (w *world) calls(action string) []emulator.Call {
	var out []emulator.Call
	for _, c := range w.emu.Calls() {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// writes counts the UpdateSecret calls the store accepted for one secret.
func (w *world) writes(ns string, id int64) int {
	n := 0
	for _, c := range w.calls("UpdateSecret") {
		if c.Query.Get("NamespaceId") == ns && c.Query.Get("SecretId") == fmt.Sprint(id) && c.Status == 200 {
			n++
		}
	}
	return n
}

// config renders a configuration: quota scaled like the emulator's.
func config(targets ...string) string {
	return `{"schedule":{"interval":"20m"},"quota":{"calls":60,"per":"1s"},"apiTimeout":"3s","throttleWait":"100ms","targets":[` + strings.Join(targets, ",") + `]}`
}

// target renders one target of the test instance; refs are secret refs in JSON.
func target(name string, refs ...string) string {
	return `{"name":"` + name + `","source":{"type":"acr-ee","instanceId":"` + instanceID + `","regionId":"` + region + `"},"secrets":[` + strings.Join(refs, ",") + `]}`
}

func byID(ns string, id int64) string { return fmt.Sprintf(`{"namespaceId":%q,"secretId":%d}`, ns, id) }
func byName(ns, name string) string {
	return fmt.Sprintf(`{"namespaceId":%q,"secretName":%q}`, ns, name)
}

func timerEvent(payload string) string {
	b, _ := json.Marshal(map[string]string{"triggerTime": "2026-11-23T10:00:00Z", "triggerName": "every20m", "payload": payload})
	return string(b)
}

// function is the binary serving the emulated FC runtime API.
type function struct {
	w              *world
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
}

// start runs the binary in FC mode. No ALIBABA_CLOUD_* variables are set:
// it must sign with the credentials of each invocation.
func (w *world) start(cfg string, env ...string) *function {
	w.t.Helper()
	f := &function{w: w, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	f.cmd = exec.Command(binary)
	f.cmd.Env = append(fnbuild.CleanEnv(), append([]string{"FC_RUNTIME_API=" + w.emu.RuntimeAPI(), "ROTATOR_CONFIG=" + cfg,
		"ROTATOR_SAE_ENDPOINT=" + w.emu.URL(), "ROTATOR_CR_ENDPOINT=" + w.emu.URL(), "ROTATOR_REGISTRY_ENDPOINT=" + w.emu.URL(), "ROTATOR_LOG_LEVEL=debug"}, env...)...)
	f.cmd.Stdout, f.cmd.Stderr = f.stdout, f.stderr
	w.guard.Watch("function stdout", f.stdout)
	w.guard.Watch("function stderr", f.stderr)
	if err := f.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		_ = f.cmd.Process.Kill()
		_ = f.cmd.Wait()
		// The binary is built with -race: a race it hit is a failure here too.
		if bytes.Contains(f.stderr.Bytes(), []byte("WARNING: DATA RACE")) {
			w.t.Error("the function reported a data race on stderr")
		}
		if n := nonJSONLines(f.stderr.Bytes()); n > 0 {
			w.t.Errorf("the function wrote %d lines to stderr that are not JSON log lines", n)
		}
	})
	return f
}

// invoke sends one event through the runtime API and decodes the report,
// from the result or, when the invocation failed, from its error message.
func (f *function) invoke(event string, timeout time.Duration) (rep rotation.Report, failed bool) {
	f.w.t.Helper()
	rep, failed, err := f.invokeAs(sts, event, timeout)
	if err != nil {
		f.w.t.Fatal(err)
	}
	return rep, failed
}

// invokeAs invokes with the given credentials; safe from any goroutine.
func (f *function) invokeAs(cred emulator.Credential, event string, timeout time.Duration) (rep rotation.Report, failed bool, err error) {
	return f.invokeWith(emulator.Invocation{Payload: []byte(event), Timeout: timeout, Credentials: cred})
}

// invokeWith sends one invocation, waits until the function has logged its
// end, and decodes the report; safe from any goroutine.
func (f *function) invokeWith(inv emulator.Invocation) (rep rotation.Report, failed bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), inv.Timeout+30*time.Second)
	defer cancel()
	res, err := f.w.emu.Invoke(ctx, inv)
	if err != nil {
		return rep, false, fmt.Errorf("invoke: %w", err)
	}
	f.w.guard.WatchBytes("invocation result", res.Payload)
	f.awaitLog(func(l map[string]any) bool { return finished(l, res.RequestID) })
	body, err := res.Output()
	if err != nil {
		return rep, res.Failed, err
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return rep, res.Failed, fmt.Errorf("the invocation's result is not a report: %w", err)
	}
	return rep, res.Failed, nil
}

// cli runs `main -event -` with the event on stdin and credentials from the environment.
func (w *world) cli(cfg, event string, env ...string) (rep rotation.Report, exit int) {
	w.t.Helper()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd := exec.Command(binary, "-event", "-")
	cmd.Env = append(fnbuild.CleanEnv(), append([]string{"ROTATOR_SAE_ENDPOINT=" + w.emu.URL(), "ROTATOR_CR_ENDPOINT=" + w.emu.URL(), "ROTATOR_REGISTRY_ENDPOINT=" + w.emu.URL(),
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliKey.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliKey.AccessKeySecret}, env...)...)
	if cfg != "" {
		cmd.Env = append(cmd.Env, "ROTATOR_CONFIG="+cfg)
	}
	cmd.Stdin = strings.NewReader(event)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	w.guard.Watch("command-line stdout", stdout)
	w.guard.Watch("command-line stderr", stderr)
	err := cmd.Run()
	if bytes.Contains(stderr.Bytes(), []byte("WARNING: DATA RACE")) {
		w.t.Error("the command line reported a data race on stderr")
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	case err != nil:
		w.t.Fatal(err)
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		w.t.Fatalf("stdout is not one report (exit %d): %v", exit, err)
	}
	return rep, exit
}

// logLines decodes the JSON log lines of an output.
func logLines(b []byte) []map[string]any {
	var out []map[string]any
	for _, line := range bytes.Split(b, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] != nil {
			out = append(out, m)
		}
	}
	return out
}

// nonJSONLines counts the non-empty lines that are not JSON objects.
func nonJSONLines(b []byte) int {
	n := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		var m map[string]any
		if len(bytes.TrimSpace(line)) > 0 && json.Unmarshal(line, &m) != nil {
			n++
		}
	}
	return n
}

// syncBuffer is the guard's output buffer.
type syncBuffer = secretguard.Buffer

// Guard is the shared secret guard.
type Guard = secretguard.Guard

func newGuard(t *testing.T, emu *emulator.Server) *Guard { return secretguard.New(t, emu) }

// finished reports whether a log line is the last one the engine writes for
// an invocation: its run finished, it was refused, or it had nothing to do.
func finished(l map[string]any, requestID string) bool {
	switch l["msg"] {
	case "rotation finished", "invocation refused", "the event matches no target: nothing to do":
		return l["requestId"] == requestID
	}
	return false
}

// awaitLog waits (at most 10 s) until the function's stderr holds a line
// that done accepts. The function writes its log before it answers, but the
// pipe from its stderr is copied into the buffer by a goroutine of its own:
// an answer can arrive before the last lines are copied.
func (f *function) awaitLog(done func(map[string]any) bool) {
	f.w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range logLines(f.stderr.Bytes()) {
			if done(l) {
				return
			}
		}
		if time.Now().After(deadline) {
			f.w.t.Error("the function's log of the invocation did not arrive within 10 s")
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nsOf, idOf and nameOf are what a result's Where shows of its secret: SAE's
// namespaceId and secretId, every store's secretName ("" and 0 when absent).
func nsOf(r rotation.Result) string {
	v, _ := r.Where.Lookup("namespaceId")
	s, _ := v.(string)
	return s
}
func idOf(r rotation.Result) int64 { v, _ := r.Where.Lookup("secretId"); id, _ := v.(int64); return id }
func nameOf(r rotation.Result) string {
	v, _ := r.Where.Lookup("secretName")
	s, _ := v.(string)
	return s
}
