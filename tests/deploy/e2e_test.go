package deploy_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
	"github.com/sae-secret-rotator/rotator/tests/secretguard"
)

// buildDir holds the binaries built once for the whole package run.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds sync.Map // target -> *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// goBuild builds a command of this module for the host, once per run.
func goBuild(t *testing.T, pkg, name string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// The emulator's world for the end-to-end runs.
const (
	e2eInstance  = "cri-e2etest"
	e2eRegion    = "cn-hangzhou"
	e2eDomain    = "e2e-registry.cn-hangzhou.cr.aliyuncs.com"
	e2eNamespace = "cn-hangzhou:e2e"
	e2eByName    = "acr-pull"
	// e2eRepository is the source's probeRepository, pushed by startWorld.
	e2eRepository = "team/web"
)

type world struct {
	srv    *emulator.Server
	byID   int64
	config string // inline JSON configuration naming the emulator's secrets
	guard  *secretguard.Guard
}

// startWorld starts an emulator with one ACR EE instance (one public
// endpoint), two dockerconfigjson secrets and a KMS secret, and a
// configuration with one target whose domains are empty (so
// ListInstanceEndpoint runs) and whose SAE secrets are named once by name
// (ListSecrets) and once by id.
func startWorld(t *testing.T) *world {
	t.Helper()
	srv, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddInstance(emulator.Instance{ID: e2eInstance, RegionID: e2eRegion, Endpoints: []emulator.Endpoint{
		{Type: "internet", Enabled: true, Domains: []string{e2eDomain}},
	}})
	dockercfg := func(user string) map[string]string {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":old-password"))
		cfg := fmt.Sprintf(`{"auths":{"other.example.com":{"username":%q,"password":"old-password","auth":%q}}}`, user, auth)
		return map[string]string{".dockerconfigjson": base64.StdEncoding.EncodeToString([]byte(cfg))}
	}
	byName, err := srv.CreateSecret(emulator.Secret{NamespaceID: e2eNamespace, Name: e2eByName,
		Type: "kubernetes.io/dockerconfigjson", Data: dockercfg("by-name")})
	if err != nil {
		t.Fatal(err)
	}
	byID, err := srv.CreateSecret(emulator.Secret{NamespaceID: e2eNamespace, Name: "acr-pull-by-id",
		Type: "kubernetes.io/dockerconfigjson", Data: dockercfg("by-id")})
	if err != nil {
		t.Fatal(err)
	}
	// A KMS secret too: its calls need their own actions.
	srv.CreateKMSSecret(e2eRegion, e2eByName, `{"auths":{"other.example.com":{"username":"kms","password":"old-password"}}}`, false)
	// The source proves its tokens by pulling an image a publisher pushed;
	// the function's identity may pull exactly what deploy/ram-policy.json
	// grants it.
	publish(t, srv)
	grantFromPolicy(t, srv, emulator.DefaultCredential.AccessKeyID, "ram-policy.json")
	config := fmt.Sprintf(`{"schedule":{"interval":"20m"},"targets":[{"name":"e2e","source":{"type":"acr-ee","instanceId":%q,"regionId":%q,"domains":[],"probeRepository":%q},"secrets":[{"namespaceId":%q,"secretName":%q},{"namespaceId":%q,"secretId":%d},{"store":"kms","regionId":%q,"secretName":%q}]}]}`,
		e2eInstance, e2eRegion, e2eRepository, e2eNamespace, e2eByName, e2eNamespace, byID, e2eRegion, e2eByName)
	g := secretguard.New(t, srv)
	for _, id := range []int64{byName, byID} {
		g.Track(e2eNamespace, id)
	}
	g.Add("old-password")
	return &world{srv: srv, byID: byID, config: config, guard: g}
}

// env is the function's environment for a run against the emulator: the
// host's, without anything that could steer the function elsewhere.
func (w *world) env() []string {
	env := fnbuild.CleanEnv()
	return append(env,
		"ROTATOR_SAE_ENDPOINT="+w.srv.URL(),
		"ROTATOR_REGISTRY_ENDPOINT="+w.srv.URL(),
		"ROTATOR_CR_ENDPOINT="+w.srv.URL(),
		"ROTATOR_KMS_ENDPOINT="+w.srv.URL(),
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+emulator.DefaultCredential.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+emulator.DefaultCredential.AccessKeySecret,
	)
}

type report struct {
	RequestID string `json:"requestId"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dryRun"`
	Rotated   int    `json:"rotated"`
	Failed    int    `json:"failed"`
	// Error is set when the whole invocation was refused.
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Results []struct {
		Target      string   `json:"target"`
		NamespaceID string   `json:"namespaceId"`
		SecretID    int64    `json:"secretId"`
		SecretName  string   `json:"secretName"`
		Status      string   `json:"status"`
		Registries  []string `json:"registries"`
		Error       *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"results"`
}

// runFunction runs `main -event FILE` in dir and returns its exit code, the
// decoded report (nil when stdout is not one) and stderr for diagnostics.
func runFunction(t *testing.T, w *world, bin, dir string, env []string, event string) (int, *report, string) {
	t.Helper()
	eventFile := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(eventFile, []byte(event), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-event", eventFile)
	cmd.Dir = dir
	cmd.Env = env
	stdout, stderr := &secretguard.Buffer{}, &secretguard.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	w.guard.Watch(filepath.Base(bin)+" stdout", stdout)
	w.guard.Watch(filepath.Base(bin)+" stderr", stderr)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("run %s: %v", bin, err)
		}
		var rep report
		if json.Unmarshal(stdout.Bytes(), &rep) != nil {
			return code, nil, string(stderr.Bytes())
		}
		return code, &rep, string(stderr.Bytes())
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		w.guard.Fatalf("%s -event %s did not finish in 2 minutes; stderr:\n%s", bin, event, tail(string(stderr.Bytes())))
		return 0, nil, ""
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

func permissions(srv *emulator.Server) map[string]bool {
	got := map[string]bool{}
	for _, c := range srv.Calls() {
		if p := permission(c); p != "" {
			got[p] = true
		}
	}
	return got
}

// permission is the RAM action a call needs of its signer. A registry call
// is made with the new token, not a role; but a token that the token
// service gave a pull scope used its minter's cr:PullRepository (the
// Token call is recorded with the minter's AccessKeyId).
func permission(c emulator.Call) string {
	switch {
	case c.Product != "registry":
		return c.Permission()
	case c.Action == "Token" && c.Status == 200 && c.AccessKeyID != "" && strings.HasSuffix(c.Query.Get("scope"), ":pull"):
		return "cr:PullRepository"
	}
	return ""
}

// TestPolicyActionsMatchTheCallsOfARun runs the function against the emulator
// and compares the RAM actions its calls need with what the deploy files
// grant: a new API call without a policy change fails here, and so does a
// grant the code no longer uses.
func TestPolicyActionsMatchTheCallsOfARun(t *testing.T) {
	bin := goBuild(t, "./function", "main")
	w := startWorld(t)
	env := append(w.env(), "ROTATOR_CONFIG="+w.config)

	// An event the deploy files' filter lets through rotates the target, so
	// the filter and the code agree on what a registry event is. It comes
	// first: right after the timer run, the stores' records of that run's
	// writes would make it skip every secret (the event cooldown).
	s := loadSYAML(t)
	var filter eventFilter
	pattern := mustGet(t, "eventbridge", triggersByType(t, s.function(t))["eventbridge"], "triggerConfig", "eventRuleFilterPattern")
	filter = parseFilter(t, "s.yaml", mustString(t, "pattern", pattern))
	event := fmt.Sprintf(`{"specversion":"1.0","id":"e2e-1","source":%q,"type":%q,"subject":"acs:cr:%s:1234567890123456:repository/%s/ns/app","time":%q,"datacontenttype":"application/json;charset=utf-8","aliyunaccountid":"1234567890123456","aliyunregionid":%q,"aliyuneventbusname":"default","data":{"InstanceId":%q,"InstanceName":"e2e","RegionId":%q,"RepoNamespaceName":"ns","RepoName":"app","Tag":"v1"}}`,
		filter.Source[0], filter.Type[0], e2eRegion, e2eInstance, time.Now().UTC().Format(time.RFC3339), e2eRegion, e2eInstance, e2eRegion)
	code, rep, stderr := runFunction(t, w, bin, repoRoot, env, event)
	if code != 0 || rep == nil || rep.Trigger != "event" || rep.Rotated != 3 {
		w.guard.Fatalf("%s event: exit %d, report %+v; stderr:\n%s", filter.Type[0], code, rep, tail(stderr))
	}
	// The timer run ignores the cooldown: it rotates them all again.
	timerName := mustString(t, "timer triggerName", triggersByType(t, s.function(t))["timer"]["triggerName"])
	timer := fmt.Sprintf(`{"triggerTime":%q,"triggerName":%q,"payload":""}`, time.Now().UTC().Format(time.RFC3339), timerName)
	code, rep, stderr = runFunction(t, w, bin, repoRoot, env, timer)
	if code != 0 || rep == nil || rep.Trigger != "timer" || rep.Rotated != 3 || rep.Failed != 0 {
		w.guard.Fatalf("timer run: exit %d, report %+v; stderr:\n%s", code, rep, tail(stderr))
	}

	called := permissions(w.srv)
	tplCode := map[string]bool{}
	for _, a := range templateRoleActions(t, loadTemplate(t)) {
		if codeService(a) {
			tplCode[a] = true
		}
	}
	if !equalSets(called, tplCode) {
		t.Errorf("the run called %v; template.yaml grants %v", sortedKeys(called), sortedKeys(tplCode))
	}
	file := setOf(policyActions(t, "deploy/ram-policy.json", readJSON(t, repoPath("deploy", "ram-policy.json")))...)
	if !equalSets(called, file) {
		t.Errorf("the run called %v; deploy/ram-policy.json grants %v", sortedKeys(called), sortedKeys(file))
	}
}

// TestShippedConfigurationIsAccepted runs the function with the shipped
// deploy/rotator.yaml: the ids in it do not exist in the emulator, but the
// code must not refuse the file itself (exit 2, InvalidConfig).
func TestShippedConfigurationIsAccepted(t *testing.T) {
	bin := goBuild(t, "./function", "main")
	w := startWorld(t)
	cfg, err := filepath.Abs(repoPath("deploy", "rotator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	code, rep, stderr := runFunction(t, w, bin, repoRoot, append(w.env(), "ROTATOR_CONFIG_FILE="+cfg), `{"action":"plan"}`)
	if code == 2 || rep == nil {
		w.guard.Fatalf("deploy/rotator.yaml refused: exit %d; stderr:\n%s", code, tail(stderr))
	}
	if rep.Error != nil && rep.Error.Code == "InvalidConfig" {
		t.Errorf("deploy/rotator.yaml: InvalidConfig: %s", rep.Error.Message)
	}
	for _, r := range rep.Results {
		if r.Error != nil && r.Error.Code == "InvalidConfig" {
			t.Errorf("deploy/rotator.yaml: InvalidConfig: %s", r.Error.Message)
		}
	}
}

type zipEntry struct {
	name string
	mode os.FileMode
	data []byte
	mod  time.Time
}

func readZip(t *testing.T, path string) []zipEntry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer zr.Close()
	var out []zipEntry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, zipEntry{name: f.Name, mode: f.Mode(), data: b, mod: f.Modified})
	}
	return out
}

// runPackager runs the packager from the repository root and checks what it
// prints: the zip's path, size and sha256.
func runPackager(t *testing.T, out string, args ...string) []byte {
	t.Helper()
	pkg := goBuild(t, "./cmd/package", "package")
	cmd := exec.Command(pkg, append([]string{"-o", out}, args...)...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("package -o %s %v: %v\n%s", out, args, err, tail(stderr.String()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	printed := stdout.String()
	for _, want := range []string{out, strconv.Itoa(len(b)), hex.EncodeToString(sum[:])} {
		if !strings.Contains(printed, want) {
			t.Errorf("packager printed %q; want the path, size and sha256 (%s)", printed, want)
		}
	}
	return b
}

func TestPackage(t *testing.T) {
	tmp := t.TempDir()

	// A configuration naming the emulator's world, shipped with -config.
	w := startWorld(t)
	testCfg := fmt.Sprintf("schedule:\n  interval: 20m\ntargets:\n  - name: e2e\n    source:\n      type: acr-ee\n      instanceId: %s\n      regionId: %s\n      domains: []\n    secrets:\n      - namespaceId: %q\n        secretName: %s\n      - namespaceId: %q\n        secretId: %d\n",
		e2eInstance, e2eRegion, e2eNamespace, e2eByName, e2eNamespace, w.byID)
	cfgPath := filepath.Join(tmp, "test-rotator.yaml")
	if err := os.WriteFile(cfgPath, []byte(testCfg), 0o644); err != nil {
		t.Fatal(err)
	}

	a := runPackager(t, filepath.Join(tmp, "a", "function.zip"), "-config", cfgPath)
	b := runPackager(t, filepath.Join(tmp, "b", "function.zip"), "-config", cfgPath)
	if !bytes.Equal(a, b) {
		t.Error("two packagings of the same sources differ: the zip is not reproducible")
	}

	entries := readZip(t, filepath.Join(tmp, "a", "function.zip"))
	var names []string
	for _, e := range entries {
		names = append(names, e.name)
	}
	if strings.Join(names, ",") != "main,"+wantConfigName {
		t.Fatalf("zip entries %v, want [main %s] in that order", names, wantConfigName)
	}
	if m := entries[0].mode; !m.IsRegular() || m.Perm() != 0o755 {
		t.Errorf("main has mode %v, want -rwxr-xr-x (FC runs it)", m)
	}
	if m := entries[1].mode; !m.IsRegular() || m.Perm() != 0o644 {
		t.Errorf("%s has mode %v, want -rw-r--r--", wantConfigName, m)
	}
	if entries[0].mod != entries[1].mod || entries[0].mod.After(time.Date(1981, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("entry times %v, %v: want one fixed time", entries[0].mod, entries[1].mod)
	}
	if string(entries[1].data) != testCfg {
		t.Errorf("%s in the zip is not the -config file", wantConfigName)
	}
	if !bytes.HasPrefix(entries[0].data, []byte("\x7fELF")) {
		t.Error("main is not an ELF binary (FC's go1 runtime is linux/amd64)")
	}

	// Without -config the shipped example goes in.
	defPath := writeDefault(t, filepath.Join(tmp, "default.zip"))
	def := readZip(t, defPath)
	// The deploy guide shows the packager's output: its size stays near the real
	// one (within 10%: the binary grows with every change, the guide with releases).
	if st, err := os.Stat(defPath); err == nil {
		shown := 0.0
		if m := regexp.MustCompile(`dist/function\.zip (\d+) bytes`).FindStringSubmatch(deploySection(t)); m != nil {
			shown, _ = strconv.ParseFloat(m[1], 64)
		}
		if math.Abs(shown-float64(st.Size())) > 0.1*float64(st.Size()) {
			t.Errorf(deployDoc+": the package is shown as %v bytes; `go run ./cmd/package` makes %d", shown, st.Size())
		}
	}
	shipped, err := os.ReadFile(repoPath("deploy", "rotator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(def) != 2 || def[1].name != wantConfigName || !bytes.Equal(def[1].data, shipped) {
		t.Errorf("the default package does not ship deploy/rotator.yaml as %s", wantConfigName)
	}

	// Unpacked, the package answers a plan the way FC would run it: from the
	// package folder, with ROTATOR_CONFIG_FILE naming the shipped file.
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the packaged main is linux/amd64; this host is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	dir := filepath.Join(tmp, "unpacked")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.WriteFile(filepath.Join(dir, e.name), e.data, e.mode.Perm()); err != nil {
			t.Fatal(err)
		}
	}
	w.srv.ResetCalls()
	code, rep, stderr := runFunction(t, w, filepath.Join(dir, "main"), dir, append(w.env(), "ROTATOR_CONFIG_FILE="+wantConfigName), `{"action":"plan"}`)
	if code != 0 || rep == nil || !rep.DryRun || len(rep.Results) != 2 {
		w.guard.Fatalf("unpacked main -event plan.json: exit %d, report %+v; stderr:\n%s", code, rep, tail(stderr))
	}
	for _, r := range rep.Results {
		if r.Status != "planned" {
			t.Errorf("plan result for %s/%s%d: status %q, want planned", r.NamespaceID, r.SecretName, r.SecretID, r.Status)
		}
	}
	// A plan reads only: no token minted, nothing written.
	for p := range permissions(w.srv) {
		if p == "sae:UpdateSecret" || p == "cr:GetAuthorizationToken" || p == "kms:PutSecretValue" {
			t.Errorf("a plan called %s", p)
		}
	}
}

// writeDefault packages with the packager's defaults (no -config) into
// out, and the other flags `make package` passes: the shipped template
// holds a placeholder instance id, which the packager refuses without them.
func writeDefault(t *testing.T, out string) string {
	t.Helper()
	runPackager(t, out, makePackageFlags(t)...)
	return out
}

// makePackageFlags are the flags of the Makefile's package recipe, but -o
// and a -config naming the default (deploy/rotator.yaml).
func makePackageFlags(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(repoPath("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	_, recipe, ok := strings.Cut(string(b), "\npackage:\n\t")
	recipe, _, _ = strings.Cut(recipe, "\n")
	f := strings.Fields(recipe)
	if !ok || len(f) < 3 || strings.Join(f[:3], " ") != "go run ./cmd/package" {
		t.Fatalf("Makefile: the package recipe is not `go run ./cmd/package ...` (have %q)", recipe)
	}
	var flags []string
	for i := 3; i < len(f); i++ {
		switch f[i] {
		case "-o":
			i++
		case "-config":
			if i+1 >= len(f) || f[i+1] != filepath.Join("deploy", "rotator.yaml") {
				t.Fatalf("Makefile: make package ships another configuration than deploy/rotator.yaml: %q", recipe)
			}
			i++
		default:
			flags = append(flags, f[i])
		}
	}
	return flags
}
