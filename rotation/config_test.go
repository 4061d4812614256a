package rotation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(validYAML), "test")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Schedule.Interval.Duration; got != 20*time.Minute {
		t.Errorf("interval = %v", got)
	}
	if cfg.Schedule.Margin.Duration != DefaultMargin || cfg.Freshness.Duration != DefaultFreshness ||
		cfg.Quota.Calls != DefaultQuota || cfg.Quota.Per.Duration != DefaultQuotaPer || cfg.APITimeout.Duration != DefaultAPITimeout {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if got := cfg.Targets[0].Secrets[1]; got.SecretName != "acr-pull" || got.Region() != "cn-hangzhou" {
		t.Errorf("second secret = %+v (region %q)", got, got.Region())
	}
}

func TestParseConfigJSON(t *testing.T) {
	js := `{"freshness":"5s","targets":[{"name":"a","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","domains":["x.example.com"]},"secrets":[{"namespaceId":"cn-beijing","secretId":1}]}]}`
	cfg, err := ParseConfig([]byte(js), "inline")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Freshness.Duration != 5*time.Second || cfg.Targets[0].Source.Domains[0] != "x.example.com" {
		t.Fatalf("decoded %+v", cfg)
	}
}

func TestParseConfigErrorsNameTheField(t *testing.T) {
	target := func(body string) string {
		return `{"targets":[{"name":"ok","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":1}]},` + body + `]}`
	}
	for _, tc := range []struct{ name, in, want string }{
		{"empty targets", `{"targets":[]}`, "targets: at least one target is required"},
		{"no targets", `{}`, "targets: at least one target is required"},
		{"secret without id or name", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou"}]}`),
			"targets[1].secrets[0]: secretId or secretName is required"},
		{"secret with both", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2,"secretName":"x"}]}`),
			"targets[1].secrets[0]: give secretId or secretName, not both"},
		{"no namespace", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"secretId":2}]}`),
			"targets[1].secrets[0]: namespaceId is required"},
		{"bad namespace", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"prod","secretId":2}]}`),
			`targets[1].secrets[0]: namespaceId "prod"`},
		{"duplicate name", target(`{"name":"ok","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			`targets[1].name: "ok" is already the name of targets[0]`},
		{"upper-case name", target(`{"name":"Prod","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			"targets[1].name:"},
		{"unknown source type", target(`{"name":"b","source":{"type":"acr-personal","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			`targets[1].source.type: "acr-personal" is not a known source type`},
		{"no instance", target(`{"name":"b","source":{"type":"acr-ee","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			"targets[1].source.instanceId: is required"},
		{"no region", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			"targets[1].source.regionId: is required"},
		{"no secrets", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[]}`),
			"targets[1].secrets: at least one secret is required"},
		{"duplicate secret", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2},{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			"targets[1].secrets[1]: the same secret as secrets[0]"},
		{"blank domain", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","domains":[" "]},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			"targets[1].source.domains[0]"},
		{"unknown field", `{"targets":[],"tragets":[]}`, `tragets: unknown field`},
		{"folded key", `{"Targets":[]}`, `Targets: unknown field`},
		{"folded nested key", target(`{"name":"b","source":{"type":"acr-ee","InstanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`),
			"targets[1].source.InstanceId: unknown field"},
		{"bad duration", `{"schedule":{"interval":"soon"},"targets":[]}`, `schedule.interval: must be a duration`},
		{"duration as number", `{"schedule":{"interval":10},"targets":[]}`, `schedule.interval: must be a duration`},
		{"id as string", target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou","secretId":"2"}]}`),
			"targets[1].secrets[0].secretId: must be a whole number"},
		{"control character in a name", "targets:\n- name: a\n  source: {type: acr-ee, instanceId: cri-1, regionId: cn-hangzhou}\n  secrets:\n  - {namespaceId: cn-hangzhou, secretName: \"pull\\x7f\"}\n",
			"targets[0].secrets[0]: secretName must be printable ASCII"},
		{"repeated YAML key", "targets: []\ntargets: []\n", "test:"},
		{"freshness shorter than the quota's spacing", `{"freshness":"1s","quota":{"calls":6,"per":"1m"},"targets":[]}`, "freshness: 1s is shorter than three calls' spacing"},
		{"negative interval", `{"schedule":{"interval":"-1m"},"targets":[]}`, "schedule.interval: must not be negative"},
		{"wrong type", `{"targets":{"name":"x"}}`, "targets"},
		{"not yaml", "targets: [", "test:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.in), "test")
			if err == nil {
				t.Fatalf("accepted %s", tc.in)
			}
			if CodeOf(err) != InvalidConfig {
				t.Errorf("code = %q, want InvalidConfig", CodeOf(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseConfigTakesAllOfJSON(t *testing.T) {
	// Escaped surrogate pairs are JSON, though not YAML: the escape must parse.
	withPair := `{"targets":[{"name":"a","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing","domains":["x.example.com"]},"secrets":[{"namespaceId":"cn-beijing","secretName":"pull"}]}],"freshness":"5s"}`
	withPair = strings.Replace(withPair, `"freshness"`, `"note":"\ud83d\ude00","freshness"`, 1)
	_, err := ParseConfig([]byte(withPair), "inline")
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
		{"file", map[string]string{EnvConfigFile: file}, ""},
		{"inline", map[string]string{EnvConfig: `{"targets":[{"name":"a","source":{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-beijing"},"secrets":[{"namespaceId":"cn-beijing","secretId":1}]}]}`}, ""},
		{"neither", map[string]string{}, "no configuration"},
		{"both", map[string]string{EnvConfig: "{}", EnvConfigFile: file}, "set only one of"},
		{"missing file", map[string]string{EnvConfigFile: filepath.Join(dir, "nope.yaml")}, "cannot read"},
		{"invalid inline", map[string]string{EnvConfig: `{"targets":[]}`}, "ROTATOR_CONFIG: targets: at least one target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(env(tc.env))
			if tc.want == "" {
				if err != nil || cfg == nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				return
			}
			if err == nil || CodeOf(err) != InvalidConfig || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want InvalidConfig containing %q", err, tc.want)
			}
		})
	}
}
