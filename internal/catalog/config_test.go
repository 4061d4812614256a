package catalog_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/internal/aliyun/acr"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// The configuration as docs/configuration.md describes it, parsed with the
// real catalog of kinds. A new store or source kind adds lines to the tables
// below (and seeds to testdata/fuzz/FuzzParseConfig), not new tests.

const validYAML = `
schedule:
  interval: 20m
targets:
  - name: prod-pull
    source:
      type: acr-ee
      instanceId: cri-abc123
      regionId: cn-hangzhou
    secrets:
      - namespaceId: "cn-hangzhou:prod"
        secretId: 16
      - namespaceId: "cn-hangzhou:staging"
        secretName: acr-pull
`

func parse(in string) (*rotation.Config, error) {
	return rotation.ParseConfig([]byte(in), "test", catalog.Kinds())
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := parse(validYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name      string
		got, want time.Duration
	}{
		{"schedule.interval", cfg.Schedule.Interval.Duration, 20 * time.Minute},
		{"schedule.margin", cfg.Schedule.Margin.Duration, rotation.DefaultMargin},
		{"freshness", cfg.Freshness.Duration, rotation.DefaultFreshness},
		{"quota.per", cfg.Quota.Per.Duration, rotation.DefaultQuotaPer},
		{"apiTimeout", cfg.APITimeout.Duration, rotation.DefaultAPITimeout},
		{"eventCooldown", cfg.EventCooldown.Duration, 5 * time.Minute},
		{"throttleWait", cfg.ThrottleWait.Duration, time.Second},
	} {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
		}
	}
	if cfg.Quota.Calls != rotation.DefaultQuota || cfg.Concurrency != rotation.DefaultConcurrency {
		t.Errorf("quota.calls = %d, concurrency = %d: defaults not applied", cfg.Quota.Calls, cfg.Concurrency)
	}
	src := cfg.Targets[0].Source
	if src.Type != "acr-ee" || src.LoginCheck != rotation.LoginAuto ||
		!reflect.DeepEqual(src.Config, &acr.EEConfig{InstanceID: "cri-abc123", RegionID: "cn-hangzhou"}) {
		t.Errorf("source = %+v (config %+v)", src, src.Config)
	}
	sec := cfg.Targets[0].Secrets[1]
	if want := (&sae.Ref{NamespaceID: "cn-hangzhou:staging", SecretName: "acr-pull"}); sec.Store != "sae" || !reflect.DeepEqual(sec.Ref, want) {
		t.Errorf("second secret = %s %+v, want sae %+v", sec.Store, sec.Ref, want)
	}
	if w := sec.Ref.Where(); w.Store != "sae" || w.Region != "cn-hangzhou" {
		t.Errorf("second secret is at %+v", w)
	}
}

func TestParseConfigOptions(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		check    func(*rotation.Config) bool
	}{
		{"eventCooldown", "eventCooldown: 30s\n", func(c *rotation.Config) bool { return c.EventCooldown.Duration == 30*time.Second }},
		{"throttleWait", "throttleWait: 250ms\n", func(c *rotation.Config) bool { return c.ThrottleWait.Duration == 250*time.Millisecond }},
		{"concurrency", "concurrency: 1\n", func(c *rotation.Config) bool { return c.Concurrency == 1 }},
		{"quota", "quota: {calls: 30, per: 1m}\n", func(c *rotation.Config) bool {
			return c.Quota.Calls == 30 && c.Quota.Per.Duration == time.Minute
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(tc.in + validYAML)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Fatalf("%q parsed as %+v", tc.in, cfg)
			}
		})
	}
}

// withEntries is a one-target configuration with the given source and
// secret entries (JSON objects).
func withEntries(source, secret string) string {
	return `{"targets":[{"name":"a","source":` + source + `,"secrets":[` + secret + `]}]}`
}

const (
	eeSource  = `{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"}`
	saeSecret = `{"namespaceId":"cn-hangzhou","secretId":1}`
)

// TestParseConfigSources: each source kind's entry, as decoded. A new kind
// adds its cases here.
func TestParseConfigSources(t *testing.T) {
	for _, tc := range []struct {
		name, entry string
		want        rotation.SourceSpec
		deviation   string // a knownDeviations entry the case shows
	}{
		{"acr-ee", `{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","domains":["x.example.com"]}`,
			rotation.SourceSpec{Type: "acr-ee", LoginCheck: "auto", Config: &acr.EEConfig{InstanceID: "cri-1", RegionID: "cn-beijing", Domains: []string{"x.example.com"}}}, ""},
		{"loginCheck required", `{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","loginCheck":"required"}`,
			rotation.SourceSpec{Type: "acr-ee", LoginCheck: "required", Config: &acr.EEConfig{InstanceID: "cri-1", RegionID: "cn-beijing"}}, ""},
		{"loginCheck off", `{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","loginCheck":"off"}`,
			rotation.SourceSpec{Type: "acr-ee", LoginCheck: "off", Config: &acr.EEConfig{InstanceID: "cri-1", RegionID: "cn-beijing"}}, ""},
		{"probeRepository", `{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","probeRepository":"team/web"}`,
			rotation.SourceSpec{Type: "acr-ee", LoginCheck: "auto", ProbeRepository: "team/web", Config: &acr.EEConfig{InstanceID: "cri-1", RegionID: "cn-beijing"}}, ""},
		{"probeRepository of more levels, loginCheck off", `{"type":"acr-personal","regionId":"cn-beijing","loginCheck":"off","probeRepository":"team/tools/web-app_v2.x"}`,
			rotation.SourceSpec{Type: "acr-personal", LoginCheck: "off", ProbeRepository: "team/tools/web-app_v2.x", Config: &acr.PersonalConfig{RegionID: "cn-beijing"}}, ""},
		{"acr-personal crpi instance", `{"type":"acr-personal","regionId":"cn-beijing","instanceId":"crpi-k4x9b2"}`,
			rotation.SourceSpec{Type: "acr-personal", LoginCheck: "auto", Config: &acr.PersonalConfig{RegionID: "cn-beijing", InstanceID: "crpi-k4x9b2"}}, ""},
		{"loginCheck null", `{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","loginCheck":null}`,
			rotation.SourceSpec{Type: "acr-ee", LoginCheck: "auto", Config: &acr.EEConfig{InstanceID: "cri-1", RegionID: "cn-beijing"}}, "null-engine-keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if knownDeviations[tc.deviation] {
				t.Skip("known deviation " + tc.deviation)
			}
			cfg, err := parse(withEntries(tc.entry, saeSecret))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Targets[0].Source
			if got.Type != tc.want.Type || got.LoginCheck != tc.want.LoginCheck || got.ProbeRepository != tc.want.ProbeRepository ||
				!reflect.DeepEqual(got.Config, tc.want.Config) {
				t.Fatalf("source = %s %s %q %+v, want %s %s %q %+v", got.Type, got.LoginCheck, got.ProbeRepository, got.Config,
					tc.want.Type, tc.want.LoginCheck, tc.want.ProbeRepository, tc.want.Config)
			}
		})
	}
}

// TestParseConfigStores: each store kind's entry, as decoded. A new kind
// adds its cases here.
func TestParseConfigStores(t *testing.T) {
	for _, tc := range []struct {
		name, entry string
		store       string
		ref         rotation.SecretRef
		deviation   string // a knownDeviations entry the case shows
	}{
		{"sae by default", `{"namespaceId":"cn-hangzhou:prod","secretId":16}`, "sae", &sae.Ref{NamespaceID: "cn-hangzhou:prod", SecretID: 16}, ""},
		{"sae by name", `{"store":"sae","namespaceId":"cn-hangzhou","secretName":"acr-pull"}`, "sae", &sae.Ref{NamespaceID: "cn-hangzhou", SecretName: "acr-pull"}, ""},
		{"store null", `{"store":null,"namespaceId":"cn-hangzhou","secretId":2}`, "sae", &sae.Ref{NamespaceID: "cn-hangzhou", SecretID: 2}, "null-engine-keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if knownDeviations[tc.deviation] {
				t.Skip("known deviation " + tc.deviation)
			}
			cfg, err := parse(withEntries(eeSource, tc.entry))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Targets[0].Secrets[0]
			if got.Store != tc.store || !reflect.DeepEqual(got.Ref, tc.ref) {
				t.Fatalf("secret = %s %+v, want %s %+v", got.Store, got.Ref, tc.store, tc.ref)
			}
			if w := got.Ref.Where(); w.Store != tc.store {
				t.Fatalf("the secret is reported in store %q, want %q", w.Store, tc.store)
			}
		})
	}
}

// TestParseConfigYAMLEngineKeys: `store` and `loginCheck` as a YAML user
// writes them.
func TestParseConfigYAMLEngineKeys(t *testing.T) {
	for _, tc := range []struct {
		name, source, secret string
		loginCheck, store    string
		deviation            string // a knownDeviations entry the case shows
	}{
		{"quoted off", `loginCheck: "off"`, `store: sae`, "off", "sae", ""},
		{"bare off", `loginCheck: off`, `store: sae`, "off", "sae", "yaml-bare-off"},
		{"empty values", `loginCheck:`, `store:`, "auto", "sae", "null-engine-keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if knownDeviations[tc.deviation] {
				t.Skip("known deviation " + tc.deviation)
			}
			in := "targets:\n- name: a\n  source:\n    type: acr-ee\n    instanceId: cri-1\n    regionId: cn-hangzhou\n    " + tc.source +
				"\n  secrets:\n  - namespaceId: cn-hangzhou\n    secretId: 1\n    " + tc.secret + "\n"
			cfg, err := parse(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Targets[0]; got.Source.LoginCheck != tc.loginCheck || got.Secrets[0].Store != tc.store {
				t.Fatalf("loginCheck %q, store %q; want %q, %q", got.Source.LoginCheck, got.Secrets[0].Store, tc.loginCheck, tc.store)
			}
		})
	}
}

// TestParseConfigRoundTrip: a parsed configuration written out as JSON (the
// form ROTATOR_CONFIG takes) names its stores and login checks, and parses
// to the same configuration.
func TestParseConfigRoundTrip(t *testing.T) {
	cfg, err := parse("eventCooldown: 1m\nthrottleWait: 2s\n" + validYAML)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"store":"sae"`, `"loginCheck":"auto"`, `"type":"acr-ee"`, `"eventCooldown":"1m0s"`, `"throttleWait":"2s"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	back, err := rotation.ParseConfig(b, "again", catalog.Kinds())
	if err != nil {
		t.Fatalf("%s does not parse: %v", b, err)
	}
	if !reflect.DeepEqual(cfg, back) {
		t.Fatalf("round trip through %s gives %+v, want %+v", b, back, cfg)
	}
}

// TestSourceMatchesEvents: which registry events (docs/events.md) rotate an
// acr-ee target.
func TestSourceMatchesEvents(t *testing.T) {
	cfg, err := parse(withEntries(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"}`, saeSecret))
	if err != nil {
		t.Fatal(err)
	}
	src := cfg.Targets[0].Source.Config
	for _, tc := range []struct {
		name   string
		source string
		data   string // the event's data as it came; "" for none
		want   bool
	}{
		{"the instance", "acs.cr", `{"InstanceId":"cri-1"}`, true},
		{"the instance and region", "acs.cr", `{"InstanceId":"cri-1","RegionId":"cn-hangzhou","RepoName":"app","Tag":"v1"}`, true},
		{"another region", "acs.cr", `{"InstanceId":"cri-1","RegionId":"cn-shanghai"}`, false},
		{"another instance", "acs.cr", `{"InstanceId":"cri-9"}`, false},
		{"no instance", "acs.cr", `{}`, false},
		{"no data", "acs.cr", "", false},
		{"null data", "acs.cr", `null`, false},
		{"data not an object", "acs.cr", `"aGVsbG8="`, false},
		{"a folded key is not InstanceId", "acs.cr", `{"instanceid":"cri-1"}`, false},
		{"an instance that is not a string", "acs.cr", `{"InstanceId":1}`, false},
		{"another product", "acs.oss", `{"InstanceId":"cri-1"}`, false},
	} {
		ev := port.Event{ID: "e1", Source: tc.source, Type: "cr:Artifact:PushCompleted"}
		if tc.data != "" {
			ev.Data = json.RawMessage(tc.data)
		}
		if got := src.Matches(ev); got != tc.want {
			t.Errorf("%s: Matches(source %s, data %s) = %v, want %v", tc.name, tc.source, tc.data, got, tc.want)
		}
	}
}

func TestParseConfigTakesAllOfJSON(t *testing.T) {
	// Escaped surrogate pairs are JSON, though not YAML: the escape must parse.
	withPair := `{"targets":[{"name":"a","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","domains":["x.example.com"]},"secrets":[{"namespaceId":"cn-beijing","secretName":"pull"}]}],"freshness":"5s"}`
	withPair = strings.Replace(withPair, `"freshness"`, `"note":"\ud83d\ude00","freshness"`, 1)
	_, err := parse(withPair)
	if err == nil || !strings.Contains(err.Error(), "note: unknown field") {
		t.Fatalf("want the unknown field named (the escape itself parsed), got %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rotator.yaml")
	if err := os.WriteFile(file, []byte(validYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" means success
	}{
		{"file", map[string]string{rotation.EnvConfigFile: file}, ""},
		{"inline", map[string]string{rotation.EnvConfig: withEntries(eeSource, saeSecret)}, ""},
		{"neither", map[string]string{}, "no configuration"},
		{"both", map[string]string{rotation.EnvConfig: "{}", rotation.EnvConfigFile: file}, "set only one of"},
		{"missing file", map[string]string{rotation.EnvConfigFile: filepath.Join(dir, "nope.yaml")}, "cannot read"},
		{"invalid inline", map[string]string{rotation.EnvConfig: `{"targets":[]}`}, "ROTATOR_CONFIG: targets: at least one target"},
		{"invalid file", map[string]string{rotation.EnvConfigFile: writeFile(t, dir, "bad.yaml", "targets: []\n")}, "bad.yaml: targets: at least one target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := rotation.LoadConfig(env(tc.env), catalog.Kinds())
			if tc.want == "" {
				if err != nil || cfg == nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				return
			}
			if err == nil || rotation.CodeOf(err) != rotation.InvalidConfig || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want InvalidConfig containing %q", err, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
