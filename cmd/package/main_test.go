package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A configuration that an invocation would refuse is never packaged: run
// stops before building, writes no zip, and says why.
func TestRefusesABrokenConfiguration(t *testing.T) {
	good := "targets:\n  - name: prod-pull\n    source:\n      type: acr-ee\n      instanceId: cri-abc123\n      regionId: cn-hangzhou\n    secrets:\n      - namespaceId: \"cn-hangzhou:prod\"\n        secretId: 16\n"
	for _, tc := range []struct{ name, config, want string }{
		{"misspelled field", strings.Replace(good, "instanceId", "instanceID", 1), "targets[0].source.instanceID: unknown field"},
		{"unknown source type", strings.Replace(good, "acr-ee", "acr-eee", 1), `targets[0].source.type: "acr-eee" is not a known source type`},
		{"unknown store", good + "      - store: vault\n        secretName: x\n", `targets[0].secrets[1].store: "vault" is not a known store`},
		{"no secrets", strings.SplitAfter(good, "    secrets:\n")[0], "targets[0].secrets: at least one secret is required"},
		{"a store field missing", good + "      - store: kms\n        secretName: acr-pull\n", "targets[0].secrets[1]"},
		{"not YAML", "targets: [\n", "typo.yaml"},
		{"a placeholder", strings.Replace(good, "cri-abc123", "cri-xxxxxxxxxxxxxxxx", 1),
			`still holds placeholders (targets[0].source.instanceId: "cri-xxxxxxxxxxxxxxxx"): edit them, or pass -allow-placeholders`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "typo.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "function.zip")
			var log strings.Builder
			err := run(out, cfg, false, &log)
			if !errors.Is(err, errRefused) {
				t.Fatalf("run = %v, want a refusal", err)
			}
			if msg := err.Error() + "\n" + log.String(); !strings.Contains(msg, tc.want) {
				t.Errorf("the refusal does not say %q:\n%s", tc.want, msg)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a zip was written for a refused configuration (%v)", err)
			}
		})
	}
}

// The shipped template is refused as it is, packaged with
// -allow-placeholders (as `make package` passes), and says what it holds.
func TestShippedTemplate(t *testing.T) {
	cfg := filepath.Join("..", "..", "deploy", "rotator.yaml")
	var log strings.Builder
	err := check(cfg, false, &log)
	if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), `targets[0].source.instanceId: "cri-xxxxxxxxxxxxxxxx"`) {
		t.Fatalf("check = %v, want the placeholder instance id refused", err)
	}
	log.Reset()
	if err := check(cfg, true, &log); err != nil {
		t.Fatalf("check -allow-placeholders = %v", err)
	}
	for _, want := range []string{"1 target(s), 1 secret(s)", "prod-pull: acr-ee cri-xxxxxxxxxxxxxxxx", "namespaceId=cn-hangzhou:prod secretName=acr-pull",
		"warning: packaged with placeholders"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the packager's output does not say %q:\n%s", want, log.String())
		}
	}
}

// The packager's shell is not the function's environment: keys it lacks
// are a warning, the package is still made; a configuration in the shell's
// own ROTATOR_CONFIG is not the one shipped.
func TestMissingKeysAreAWarningWhenPackaging(t *testing.T) {
	for _, k := range []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"} {
		t.Setenv(k, "")
	}
	t.Setenv("ROTATOR_CONFIG", `{"targets":[]}`)
	cfg := filepath.Join(t.TempDir(), "rotator.yaml")
	if err := os.WriteFile(cfg, []byte("targets:\n  - name: huawei\n    source: {type: acr-personal, regionId: cn-hangzhou}\n    secrets:\n"+
		"      - {store: csms, region: cn-north-4, projectId: 0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e, secretName: acr-pull}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if err := check(cfg, false, &log); err != nil {
		t.Fatalf("check = %v, want a warning only", err)
	}
	for _, want := range []string{"environment: csms: no Huawei Cloud credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
		"warning: this shell is not the function's environment", "huawei: acr-personal cn-hangzhou"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the packager's output does not say %q:\n%s", want, log.String())
		}
	}
}
