package catalog

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/rotation"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The same configuration and environment: Here a store's missing keys fail
// the check, Elsewhere (the packager's shell) they are a warning.
func TestCheckHereAndElsewhere(t *testing.T) {
	cfg := `{"targets":[{"name":"t","source":{"type":"acr-personal","regionId":"cn-hangzhou"},"secrets":[` +
		`{"store":"ssm","region":"ap-guangzhou","secretName":"acr-pull","versionId":"current"},` +
		`{"store":"csms","region":"cn-north-4","projectId":"p","secretName":"acr-pull"}]}]}`
	env := envOf(map[string]string{rotation.EnvConfig: cfg})
	here := Check(env, CheckOptions{Where: Here})
	if here.OK || here.Error == nil || here.Error.Code != rotation.InvalidConfig || len(here.Environment) != 2 ||
		!strings.Contains(here.Error.Message, "TENCENTCLOUD_SECRET_ID") || !strings.Contains(here.Error.Message, "HUAWEICLOUD_SDK_AK") {
		t.Errorf("Here: %+v; want InvalidConfig naming both clouds' keys", here)
	}
	elsewhere := Check(env, CheckOptions{Where: Elsewhere})
	if !elsewhere.OK || elsewhere.Error != nil || !reflect.DeepEqual(elsewhere.Environment, here.Environment) || elsewhere.Secrets != 2 {
		t.Errorf("Elsewhere: %+v; want ok, the same two warnings and 2 secrets", elsewhere)
	}
}

func TestPlaceholders(t *testing.T) {
	for _, tc := range []struct {
		source string
		want   []string
	}{
		{`{"type":"acr-ee","instanceId":"cri-xxxxxxxxxxxxxxxx","regionId":"cn-hangzhou"}`, []string{`targets[0].source.instanceId: "cri-xxxxxxxxxxxxxxxx"`}},
		{`{"type":"acr-ee","instanceId":"cri-abc","regionId":"cn-hangzhou","domains":["<your-registry>"]}`,
			[]string{`targets[0].source.domains[0]: "<your-registry>"`}},
		{`{"type":"acr-ee","instanceId":"cri-abc","regionId":"cn-hangzhou","assumeRole":"acs:ram::1234567890123456:role/minter"}`,
			[]string{`targets[0].source.assumeRole: "acs:ram::1234567890123456:role/minter"`}},
		{`{"type":"acr-ee","instanceId":"cri-7f3k2x9q","regionId":"cn-hangzhou","domains":["x.example"]}`, nil},
	} {
		cfg := `{"targets":[{"name":"t","source":` + tc.source + `,"secrets":[{"namespaceId":"cn-hangzhou:prod","secretId":1}]}]}`
		rep := Check(envOf(map[string]string{rotation.EnvConfig: cfg}), CheckOptions{Where: Here})
		if !rep.OK || !reflect.DeepEqual(rep.Placeholders, tc.want) {
			t.Errorf("%s: ok %v, placeholders %q, want %q (%+v)", tc.source, rep.OK, rep.Placeholders, tc.want, rep.Error)
		}
	}
}

// Without credentials, the check says the command line would be refused,
// but passes: FC brings each invocation its own.
func TestCheckNamesMissingCredentials(t *testing.T) {
	cfg := `{"targets":[{"name":"t","source":{"type":"acr-personal","regionId":"cn-hangzhou"},"secrets":[{"namespaceId":"cn-hangzhou:prod","secretId":1}]}]}`
	rep := Check(envOf(map[string]string{rotation.EnvConfig: cfg}), CheckOptions{Where: Here, Credentials: &rotation.Credentials{}})
	if !rep.OK || !strings.Contains(rep.Credentials, "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Errorf("%+v: want ok, naming the missing credentials", rep)
	}
	rep = Check(envOf(map[string]string{rotation.EnvConfig: cfg}), CheckOptions{Where: Here, Credentials: &rotation.Credentials{AccessKeyID: "a", AccessKeySecret: "b"}})
	if !rep.OK || rep.Credentials != "" {
		t.Errorf("%+v: want ok, no word on credentials", rep)
	}
}

// Every message of a check is the error's words without its report code,
// which the report gives apart: the configuration's, the environment's,
// the credentials' and the event's.
func TestCheckMessagesCarryNoCode(t *testing.T) {
	cfg := `{"targets":[{"name":"t","source":{"type":"acr-personal","regionId":"cn-hangzhou"},"secrets":[` +
		`{"namespaceId":"cn-hangzhou:prod","secretId":1},{"store":"ssm","region":"ap-guangzhou","secretName":"acr-pull","versionId":"current"}]}]}`
	noCode := func(what, msg string) {
		t.Helper()
		for _, c := range []rotation.Code{rotation.InvalidConfig, rotation.InvalidEvent} {
			if msg == "" || strings.Contains(msg, string(c)+": ") {
				t.Errorf("%s: message %q, want the words without a code", what, msg)
			}
		}
	}
	rep := Check(envOf(nil), CheckOptions{Where: Here})
	if rep.Error == nil || rep.Error.Code != rotation.InvalidConfig {
		t.Fatalf("no configuration: %+v", rep)
	}
	noCode("no configuration", rep.Error.Message)

	rep = Check(envOf(map[string]string{rotation.EnvConfig: cfg}), CheckOptions{Where: Elsewhere, Credentials: &rotation.Credentials{},
		Event: []byte(`{"action":"nonsense"}`), EventOrigin: "event file"})
	if len(rep.Environment) != 1 || rep.Credentials == "" || rep.Error == nil {
		t.Fatalf("%+v: want one environment warning, the credentials' and the event's error", rep)
	}
	noCode("environment", rep.Environment[0])
	noCode("credentials", rep.Credentials)
	noCode("event", rep.Error.Message)
	if !strings.HasPrefix(rep.Error.Message, "event file: ") {
		t.Errorf("event error %q, want it to name the event file first", rep.Error.Message)
	}
}
