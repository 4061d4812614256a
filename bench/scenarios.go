// Package bench measures the rotator's performance figures against the bundled
// emulator: SAE calls per rotated secret, quota-bound and latency-bound time,
// two instances sharing one quota, cold start, peak RSS, allocations and the
// size of the code package.
//
// The scenarios here run the real function binary (built as cmd/package
// builds it) under the emulated FC runtime API, as tests/ does, and return
// raw measurements. bench_test.go wraps them in Go benchmarks; cmd/bench runs
// each once and prints them next to their goals.
package bench

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"

	"github.com/sae-secret-rotator/rotator/internal/fnbuild"
)

// Scale is SAE's quota with its minute scaled down, so that a paced run of
// hundreds of calls takes seconds. The emulator enforces Calls per Window and
// the function is configured with the same quota.
type Scale struct {
	Calls  int
	Window time.Duration
}

// DefaultScale is SAE's 60 calls a minute with the minute scaled 50x down
// to 1.2 s: the freshness window scales with it to exactly 200 ms, so a
// window holds as many paced calls as 10 s do in production (9).
var DefaultScale = Scale{Calls: 60, Window: 1200 * time.Millisecond}

// Production is SAE's quota as the function's defaults assume it.
var Production = Scale{Calls: rotation.DefaultQuota, Window: rotation.DefaultQuotaPer}

// Factor is how much faster than production the scale runs.
func (s Scale) Factor() float64 { return float64(time.Minute) / float64(s.Window) }

// Freshness is the production freshness window (10 s a minute of quota)
// scaled like the quota.
func (s Scale) Freshness() time.Duration {
	return time.Duration(math.Round(float64(rotation.DefaultFreshness) / s.Factor()))
}

// QuotaRate is the quota in calls per second.
func (s Scale) QuotaRate() float64 { return float64(s.Calls) / s.Window.Seconds() }

// PacedRate is the function pacer's sustained ceiling in calls per second.
func (s Scale) PacedRate() float64 {
	_, perSecond := rotation.Pace(s.Calls, s.Window)
	return perSecond
}

// M is the number of secrets one read can serve at the paced rate: a
// freshness window holds F·r paced calls, one read and then a write and a
// verification per secret, so m = ⌊(F·r − 1) / 2⌋ (at least 1).
func (s Scale) M(freshness time.Duration) int {
	calls := freshness.Seconds() * s.PacedRate()
	return max(1, int(math.Floor((calls-1)/2+1e-9)))
}

// CallBudget is the goal for SAE calls per rotated secret when n secrets of
// one namespace rotate and ListSecrets carries their values (an older API
// version: the batched path): a write and a verification each, and ⌈n/m⌉
// reads. That is 2 + 1/n when the n writes fit in one freshness window, and
// 2 + 1/m when m divides n; for other n the last read serves fewer than m
// secrets (n = 10, m = 4: 3 reads, 2.3).
func (s Scale) CallBudget(n int, freshness time.Duration) float64 {
	m := s.M(freshness)
	return 2 + float64((n+m-1)/m)/float64(n)
}

// DocumentedBudget is the goal for SAE calls per rotated secret with the
// answers the API reference documents (ListSecrets carries no values): a
// DescribeSecret to read, an UpdateSecret, a DescribeSecret to verify, and
// for secrets named by secretName one ListSecrets per namespace of n.
func DocumentedBudget(n int, byName bool) float64 {
	if byName {
		return 3 + 1/float64(n)
	}
	return 3
}

// The function role's STS credential the emulated FC passes with every
// invocation; the emulator accepts only it.
var sts = emulator.Credential{AccessKeyID: "STS.benchFunctionRole", AccessKeySecret: "bench-sts-secret-value", SecurityToken: "bench-security-token"}

const (
	instanceID = "cri-bench"
	region     = "cn-hangzhou"
	dockerType = "kubernetes.io/dockerconfigjson"
)

// BuildFunction builds the handler into dir/main as cmd/package does
// (static, stripped, -trimpath): the binary that ships.
func BuildFunction(dir string) (string, error) {
	root, err := fnbuild.ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "main")
	if err := fnbuild.Build(root, bin, "", ""); err != nil {
		return "", err
	}
	return bin, nil
}

// PackageSize runs `go run ./cmd/package` into dir and returns the size of
// the zip it wrote (the same bytes as dist/function.zip: the zip is
// reproducible).
func PackageSize(dir string) (int64, error) {
	root, err := fnbuild.ModuleRoot()
	if err != nil {
		return 0, err
	}
	out := filepath.Join(dir, "function.zip")
	// The shipped template holds a placeholder instance id: its size is the
	// same as that of an edited one.
	cmd := exec.Command("go", "run", "./cmd/package", "-o", out, "-config", filepath.Join("deploy", "rotator.yaml"), "-allow-placeholders")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go run ./cmd/package: %v\n%s", err, b)
	}
	st, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// SecretRef is one seeded secret.
type SecretRef struct {
	Namespace string
	ID        int64
	Name      string
	ByName    bool // the configuration names it by secretName (Config), not by id
}

// Namespace is the i-th namespace of a scenario; prefix keeps instances apart.
func Namespace(prefix string, i int) string { return fmt.Sprintf("%s:%s-%d", region, prefix, i) }

// StartEmulator starts an emulator with the scaled quota (negative Calls:
// no quota) and the bench's ACR instance. Its ListSecrets answers as the
// API reference documents (no values): see emulator.Server.SetListSecretsData.
func StartEmulator(s Scale) (*emulator.Server, error) {
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{sts}, Quota: s.Calls, QuotaWindow: s.Window})
	if err != nil {
		return nil, err
	}
	emu.AddInstance(emulator.Instance{ID: instanceID, RegionID: region})
	return emu, nil
}

// Seed creates perNamespace dockerconfigjson secrets in each of namespaces
// namespaces, grouped by namespace (as a configuration lists them). Each
// holds a foreign registry entry and an extra key that must survive.
func Seed(emu *emulator.Server, prefix string, namespaces, perNamespace int) ([]SecretRef, error) {
	var refs []SecretRef
	for n := 0; n < namespaces; n++ {
		ns := Namespace(prefix, n)
		for i := 0; i < perNamespace; i++ {
			cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
				"docker.io": map[string]string{"username": "team", "password": fmt.Sprintf("hub-password-%d", i),
					"auth": base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("team:hub-password-%d", i)))}}})
			name := fmt.Sprintf("acr-pull-%d", i)
			id, err := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: name, Type: dockerType,
				Data:       map[string]string{".dockerconfigjson": base64.StdEncoding.EncodeToString(cfg), "note": "kept"},
				RelateApps: []emulator.App{{AppID: fmt.Sprintf("app-%d-%d", n, i), AppName: fmt.Sprintf("api-%d", i)}}})
			if err != nil {
				return nil, err
			}
			refs = append(refs, SecretRef{Namespace: ns, ID: id, Name: name})
		}
	}
	return refs, nil
}

// Config renders the function's configuration: one target with every secret
// by id, the scaled quota, and the freshness window.
func Config(s Scale, freshness time.Duration, refs []SecretRef) string {
	return config(s, freshness, refs, false)
}

// ConfigByName is Config with every secret named by secretName.
func ConfigByName(s Scale, freshness time.Duration, refs []SecretRef) string {
	return config(s, freshness, refs, true)
}

func config(s Scale, freshness time.Duration, refs []SecretRef, byName bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"schedule":{"interval":"20m"},"freshness":%q,"quota":{"calls":%d,"per":%q},"apiTimeout":"10s","targets":[`,
		freshness.String(), s.Calls, s.Window.String())
	fmt.Fprintf(&b, `{"name":"bench","source":{"type":"acr-ee","instanceId":%q,"regionId":%q},"secrets":[`, instanceID, region)
	for i, r := range refs {
		if i > 0 {
			b.WriteByte(',')
		}
		if byName || r.ByName {
			fmt.Fprintf(&b, `{"namespaceId":%q,"secretName":%q}`, r.Namespace, r.Name)
			continue
		}
		fmt.Fprintf(&b, `{"namespaceId":%q,"secretId":%d}`, r.Namespace, r.ID)
	}
	b.WriteString(`]}]}`)
	return b.String()
}

// TimerEvent is a timer trigger's event that rotates every target.
func TimerEvent() []byte {
	return []byte(`{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"every20m","payload":""}`)
}

// Calls summarises an emulator's call log.
type Calls struct {
	SAE       int            // every SAE call, answered or not
	ByAction  map[string]int // SAE calls by action
	Other     int            // SAE calls other than ListSecrets, UpdateSecret, DescribeSecret
	Throttled int            // SAE calls answered Throttling*
	ACR       int            // ACR calls (outside SAE's quota)
	Registry  int            // registry login round trips (the login check)
}

// Admitted is the SAE calls the quota counted (all but the throttled ones).
func (c Calls) Admitted() int { return c.SAE - c.Throttled }

// CountCalls reads the emulator's call log; accessKeyID "" counts every caller.
func CountCalls(emu *emulator.Server) Calls {
	c := Calls{ByAction: map[string]int{}}
	for _, call := range emu.Calls() {
		switch call.Product {
		case "sae":
			c.SAE++
			c.ByAction[call.Action]++
			switch call.Action {
			case "ListSecrets", "UpdateSecret", "DescribeSecret":
			default:
				c.Other++
			}
			if strings.HasPrefix(call.Code, "Throttling") {
				c.Throttled++
			}
		case "cr":
			c.ACR++
		case "registry":
			c.Registry++
		}
	}
	return c
}

// Shapes are the ways the benchmarks name secrets and SAE answers ListSecrets.
var Shapes = []struct {
	Name             string
	ByName, Carrying bool
}{
	{"documented/id", false, false},  // the API reference's answers, secrets by id
	{"documented/name", true, false}, // the same, secrets by secretName
	{"carrying/name", true, true},    // ListSecrets carries the values (an older API): the batched path
}

// Rotation is one rotation scenario: one function instance rotating
// Namespaces × PerNamespace secrets in one invocation.
type Rotation struct {
	Scale        Scale
	Namespaces   int
	PerNamespace int
	Freshness    time.Duration // 0: Scale.Freshness()
	Latency      time.Duration // added to every SAE, ACR and registry call
	ByName       bool          // secrets named by secretName, not secretId
	ListData     bool          // ListSecrets carries the values (an older API version)
}

// RotationResult is what one rotation measured.
type RotationResult struct {
	Secrets, Rotated int
	Failures         map[rotation.Code]int // failed secrets by code (none expected)
	FailureSample    string                // one failure's message
	Wall             time.Duration         // from the invocation to its report
	Calls            Calls
	StaleWrites      int   // pacer slots spent on writes found stale (no call made)
	PeakRSS          int64 // the function process's VmHWM at the end, bytes
}

// Failed is the number of secrets that failed.
func (r RotationResult) Failed() int { return r.Secrets - r.Rotated }

// CallsPerSecret is SAE calls per rotated secret.
func (r RotationResult) CallsPerSecret() float64 {
	return float64(r.Calls.SAE) / float64(max(1, r.Rotated))
}

// QuotaRatio is wall time ÷ (admitted SAE calls ÷ quota rate): 1.0 is the
// quota's edge.
func (r RotationResult) QuotaRatio(s Scale) float64 {
	return r.Wall.Seconds() / (float64(r.Calls.Admitted()) / s.QuotaRate())
}

// LatencyRatio is wall time ÷ (every call × the added latency).
func (r RotationResult) LatencyRatio(latency time.Duration) float64 {
	return r.Wall.Seconds() / (float64(r.Calls.SAE+r.Calls.ACR+r.Calls.Registry) * latency.Seconds())
}

// RunRotation runs one rotation with the real binary. Secrets that failed are
// counted in the result (Failures); an error means the scenario could not run.
func RunRotation(bin string, spec Rotation) (RotationResult, error) {
	if spec.Freshness == 0 {
		spec.Freshness = spec.Scale.Freshness()
	}
	emu, err := StartEmulator(spec.Scale)
	if err != nil {
		return RotationResult{}, err
	}
	defer emu.Close()
	emu.SetListSecretsData(spec.ListData)
	refs, err := Seed(emu, "bench", spec.Namespaces, spec.PerNamespace)
	if err != nil {
		return RotationResult{}, err
	}
	cfg := config(spec.Scale, spec.Freshness, refs, spec.ByName)
	f, err := StartFunction(bin, emu, emu, cfg)
	if err != nil {
		return RotationResult{}, err
	}
	defer f.Stop()
	if err := waitReady(emu, f); err != nil {
		return RotationResult{}, err
	}
	if spec.Latency > 0 {
		emu.SetFault("sae", emulator.Fault{Latency: spec.Latency})
		emu.SetFault("cr", emulator.Fault{Latency: spec.Latency})
		emu.SetFault("registry", emulator.Fault{Latency: spec.Latency})
	}
	start := time.Now()
	rep, err := invoke(emu, f)
	wall := time.Since(start)
	if err != nil {
		return RotationResult{}, err
	}
	if rep.Error != nil {
		return RotationResult{}, fmt.Errorf("the invocation was refused: %s: %s", rep.Error.Code, rep.Error.Message)
	}
	res := RotationResult{Secrets: len(refs), Rotated: rep.Rotated, Wall: wall, Calls: CountCalls(emu)}
	res.Failures, res.FailureSample = failures(rep)
	time.Sleep(50 * time.Millisecond) // the last log lines
	res.StaleWrites = f.StaleWrites()
	if res.PeakRSS, err = f.PeakRSS(); err != nil {
		return res, err
	}
	return res, nil
}

// failures counts a report's failed secrets by code, with one message.
func failures(rep *rotation.Report) (codes map[rotation.Code]int, sample string) {
	codes = map[rotation.Code]int{}
	for _, r := range rep.Results {
		if r.Error != nil {
			codes[r.Error.Code]++
			if sample == "" {
				sample = string(r.Error.Code) + ": " + r.Error.Message
			}
		}
	}
	return codes, sample
}

// FailureText describes failures by code, e.g. "2 UpdateFailed".
func FailureText(codes map[rotation.Code]int) string {
	var parts []string
	for c, n := range codes {
		parts = append(parts, fmt.Sprintf("%d %s", n, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
