package catalog_test

import (
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/rotation"
)

// TestParseConfigErrorsNameTheField: every refusal is InvalidConfig and names
// the field to fix. A new kind adds its cases (a missing field, a bad value).
func TestParseConfigErrorsNameTheField(t *testing.T) {
	// Each helper puts the entry under test into a second target, after a valid one.
	target := func(body string) string {
		return `{"targets":[{"name":"ok","source":` + eeSource + `,"secrets":[` + saeSecret + `]},` + body + `]}`
	}
	source := func(entry string) string {
		return target(`{"name":"b","source":` + entry + `,"secrets":[{"namespaceId":"cn-hangzhou","secretId":2}]}`)
	}
	secret := func(entries string) string {
		return target(`{"name":"b","source":{"type":"acr-ee","instanceId":"cri-2","regionId":"cn-hangzhou"},"secrets":[` + entries + `]}`)
	}
	for _, tc := range []struct{ name, in, want string }{
		// The document and its top-level fields.
		{"empty targets", `{"targets":[]}`, "targets: at least one target is required"},
		{"no targets", `{}`, "targets: at least one target is required"},
		{"unknown field", `{"targets":[],"tragets":[]}`, `tragets: unknown field`},
		{"folded key", `{"Targets":[]}`, `Targets: unknown field`},
		{"bad duration", `{"schedule":{"interval":"soon"},"targets":[]}`, `schedule.interval: must be a duration`},
		{"duration as number", `{"schedule":{"interval":10},"targets":[]}`, `schedule.interval: must be a duration`},
		{"negative interval", `{"schedule":{"interval":"-1m"},"targets":[]}`, "schedule.interval: must not be negative"},
		{"freshness shorter than the quota's spacing", `{"freshness":"1s","quota":{"calls":6,"per":"1m"},"targets":[]}`, "freshness: 1s is shorter than three calls' spacing"},
		{"eventCooldown not a duration", `{"eventCooldown":"later","targets":[]}`, "eventCooldown: must be a duration"},
		{"eventCooldown negative", `{"eventCooldown":"-1m","targets":[]}`, "eventCooldown: must not be negative"},
		{"throttleWait negative", `{"throttleWait":"-1s","targets":[]}`, "throttleWait: must not be negative"},
		{"throttleWait as number", `{"throttleWait":1,"targets":[]}`, "throttleWait: must be a duration"},
		{"wrong type", `{"targets":{"name":"x"}}`, "targets"},
		{"repeated YAML key", "targets: []\ntargets: []\n", "test:"},
		{"not yaml", "targets: [", "test:"},
		// Targets.
		{"duplicate name", target(`{"name":"ok","source":` + eeSource + `,"secrets":[` + saeSecret + `]}`),
			`targets[1].name: "ok" is already the name of targets[0]`},
		{"upper-case name", target(`{"name":"Prod","source":` + eeSource + `,"secrets":[` + saeSecret + `]}`), "targets[1].name:"},
		{"no secrets", secret(``), "targets[1].secrets: at least one secret is required"},
		{"no source", target(`{"name":"b","secrets":[` + saeSecret + `]}`), "targets[1].source: is required"},
		{"unknown target field", target(`{"name":"b","source":` + eeSource + `,"secrets":[` + saeSecret + `],"store":"sae"}`), "targets[1].store: unknown field"},
		// Sources: the engine's fields, then each kind's.
		{"source not an object", source(`"acr-ee"`), "targets[1].source: must be an object"},
		{"no source type", source(`{"instanceId":"cri-1","regionId":"cn-hangzhou"}`), `targets[1].source.type: is required (one of "acr-ee"`},
		{"source type not a string", source(`{"type":1,"instanceId":"cri-1","regionId":"cn-hangzhou"}`), "targets[1].source.type: must be a string"},
		{"unknown source type", source(`{"type":"gcr","instanceId":"cri-1","regionId":"cn-hangzhou"}`), `targets[1].source.type: "gcr" is not a known source type`},
		{"bad loginCheck", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","loginCheck":"sometimes"}`),
			`targets[1].source.loginCheck: must be "auto", "required" or "off"`},
		{"loginCheck not a string", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","loginCheck":true}`),
			"targets[1].source.loginCheck: must be a string"},
		{"probeRepository without a namespace", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","probeRepository":"web"}`),
			`targets[1].source.probeRepository: "web" is not a repository such as "team/web"`},
		{"probeRepository with a tag", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","probeRepository":"team/web:latest"}`),
			`targets[1].source.probeRepository: "team/web:latest" is not a repository`},
		{"probeRepository with a registry", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","probeRepository":"registry.example.com:5000/team/web"}`),
			`targets[1].source.probeRepository: "registry.example.com:5000/team/web" is not a repository`},
		{"probeRepository upper-case", source(`{"type":"acr-personal","regionId":"cn-hangzhou","probeRepository":"Team/Web"}`),
			`targets[1].source.probeRepository: "Team/Web" is not a repository`},
		{"probeRepository not a string", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","probeRepository":["team/web"]}`),
			"targets[1].source.probeRepository: must be a string"},
		{"acr-personal instance not crpi", source(`{"type":"acr-personal","regionId":"cn-hangzhou","instanceId":"cri-1"}`),
			`targets[1].source.instanceId: "cri-1" is not a Personal Edition instance id such as "crpi-abc123"`},
		{"acr-ee without instance", source(`{"type":"acr-ee","regionId":"cn-hangzhou"}`), "targets[1].source.instanceId: is required"},
		{"acr-ee without region", source(`{"type":"acr-ee","instanceId":"cri-1"}`), "targets[1].source.regionId: is required"},
		{"acr-ee bad region", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"hangzhou"}`), "targets[1].source.regionId:"},
		{"acr-ee blank domain", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","domains":[" "]}`), "targets[1].source.domains[0]"},
		{"acr-ee folded key", source(`{"type":"acr-ee","InstanceId":"cri-1","regionId":"cn-hangzhou"}`), "targets[1].source.InstanceId: unknown field"},
		{"acr-ee field of a store", source(`{"type":"acr-ee","instanceId":"cri-1","regionId":"cn-hangzhou","secretName":"x"}`), "targets[1].source.secretName: unknown field"},
		// Secrets: the engine's fields, then each store's.
		{"secret not an object", secret(`"pull"`), "targets[1].secrets[0]: must be an object"},
		{"unknown store", secret(`{"store":"vault","namespaceId":"cn-hangzhou","secretId":2}`), `targets[1].secrets[0].store: "vault" is not a known store (one of "sae"`},
		{"store not a string", secret(`{"store":1,"namespaceId":"cn-hangzhou","secretId":2}`), "targets[1].secrets[0].store: must be a string"},
		{"duplicate secret", secret(`{"namespaceId":"cn-hangzhou","secretId":2},{"store":"sae","namespaceId":"cn-hangzhou","secretId":2}`),
			"targets[1].secrets[1]: the same secret as secrets[0]"},
		{"sae with no fields", secret(`{"store":"sae"}`), "targets[1].secrets[0]: namespaceId is required"},
		{"sae without id or name", secret(`{"namespaceId":"cn-hangzhou"}`), "targets[1].secrets[0]: secretId or secretName is required"},
		{"sae with both", secret(`{"namespaceId":"cn-hangzhou","secretId":2,"secretName":"x"}`), "targets[1].secrets[0]: give secretId or secretName, not both"},
		{"sae without namespace", secret(`{"secretId":2}`), "targets[1].secrets[0]: namespaceId is required"},
		{"sae bad namespace", secret(`{"namespaceId":"prod","secretId":2}`), `targets[1].secrets[0]: namespaceId "prod"`},
		{"sae negative id", secret(`{"namespaceId":"cn-hangzhou","secretId":-2}`), "targets[1].secrets[0]: secretId must be positive"},
		{"sae id as string", secret(`{"namespaceId":"cn-hangzhou","secretId":"2"}`), "targets[1].secrets[0].secretId: must be a whole number"},
		{"sae field of another store", secret(`{"namespaceId":"cn-hangzhou","secretId":2,"regionId":"cn-hangzhou"}`), "targets[1].secrets[0].regionId: unknown field"},
		{"control character in a name", "targets:\n- name: a\n  source: {type: acr-ee, instanceId: cri-1, regionId: cn-hangzhou}\n  secrets:\n  - {namespaceId: cn-hangzhou, secretName: \"pull\\x7f\"}\n",
			"targets[0].secrets[0]: secretName must be printable ASCII"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.in)
			if err == nil {
				t.Fatalf("accepted %s", tc.in)
			}
			if rotation.CodeOf(err) != rotation.InvalidConfig {
				t.Errorf("code = %q, want InvalidConfig", rotation.CodeOf(err))
			}
			if !strings.HasPrefix(err.Error(), "InvalidConfig: test: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not start with the origin or does not contain %q", err, tc.want)
			}
		})
	}
}
