package rotation_test

// The engine driven in-process with the real kinds (internal/catalog) and
// SDK clients against the emulator, for what only a unit test can provoke:
// a panic inside a port, and what the logs and the report make of an event.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/acr"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

var engineKey = emulator.Credential{AccessKeyID: "STS.engineTest", AccessKeySecret: "engine-test-secret", SecurityToken: "engine-test-token"}

const engineNS = "cn-hangzhou:prod"

// engine starts an emulator with an ACR instance and n SAE secrets, and a
// Rotator rotating them all in one target, one secret at a time.
func engine(t *testing.T, n int, prover rotation.Prover) (*emulator.Server, *rotation.Rotator, *observer.ObservedLogs) {
	return engineWith(t, n, prover, `{"type":"acr-ee","instanceId":"cri-engine","regionId":"cn-hangzhou"}`, catalog.Kinds())
}

func engineWith(t *testing.T, n int, prover rotation.Prover, source string, cat rotation.Catalog) (*emulator.Server, *rotation.Rotator, *observer.ObservedLogs) {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{Credentials: []emulator.Credential{engineKey}, Quota: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	emu.AddInstance(emulator.Instance{ID: "cri-engine", RegionID: "cn-hangzhou", Endpoints: []emulator.Endpoint{
		{Type: "internet", Enabled: true, Domains: []string{"cri-engine-registry.cn-hangzhou.cr.aliyuncs.com"}}}})
	var refs []string
	for i := range n {
		id, err := emu.CreateSecret(emulator.Secret{NamespaceID: engineNS, Name: fmt.Sprint("pull-", i), Type: "kubernetes.io/dockerconfigjson",
			Data: map[string]string{".dockerconfigjson": "e30="}})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, fmt.Sprintf(`{"namespaceId":%q,"secretId":%d}`, engineNS, id))
	}
	cfg, err := rotation.ParseConfig([]byte(`{"concurrency":1,"targets":[{"name":"t","source":`+source+`,"secrets":[`+
		strings.Join(refs, ",")+`]}]}`), "test", cat)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{sae.EnvEndpoint: emu.URL(), acr.EnvEndpoint: emu.URL()}
	core, logs := observer.New(zap.DebugLevel)
	r := rotation.New(cfg, nil, zap.New(core), rotation.Options{Getenv: func(k string) string { return env[k] }, Prover: prover})
	if err := r.ConfigError(); err != nil {
		t.Fatal(err)
	}
	return emu, r, logs
}

func invocation(event string) rotation.Invocation {
	return rotation.Invocation{RequestID: "test", Event: []byte(event),
		Credentials: rotation.Credentials{AccessKeyID: engineKey.AccessKeyID, AccessKeySecret: engineKey.AccessKeySecret, SecurityToken: engineKey.SecurityToken}}
}

type panickingProver struct{}

func (panickingProver) Login(context.Context, string, string, string, string) error {
	panic("login check bug")
}

// A panic inside the one-time login check fails the secret that met it, and
// the other secrets of the source do not write the token it never proved.
func TestPanicInLoginCheckWritesNothing(t *testing.T) {
	emu, r, _ := engine(t, 3, panickingProver{})
	rep := r.Run(context.Background(), invocation(`{"action":"rotate"}`))
	if rep.Failed != 3 {
		t.Errorf("%d of 3 secrets failed, want all: %s", rep.Failed, rep.JSON())
	}
	for _, res := range rep.Results {
		if res.Error == nil || res.Error.Code != rotation.UpdateFailed || !strings.Contains(res.Error.Message, "internal error") {
			t.Errorf("%s: %+v, want UpdateFailed naming an internal error", res.Where.Describe(), res.Error)
		}
	}
	for _, c := range emu.Calls() {
		if c.Action == "UpdateSecret" {
			t.Errorf("secret %s was written with a token the login check never proved", c.Query.Get("SecretId"))
		}
	}
}

// panicKind is a source whose domain lookup panics.
type panicKind struct{}

type panicConfig struct{}

func (panicKind) Name() string                               { return "panics" }
func (panicKind) NewConfig() rotation.SourceConfig           { return &panicConfig{} }
func (panicKind) Open(rotation.Env) (rotation.Source, error) { return panicKind{}, nil }
func (*panicConfig) Validate() error                         { return nil }
func (*panicConfig) Key() string                             { return "panics" }
func (*panicConfig) Matches(port.Event) bool                 { return false }
func (*panicConfig) Describe() string                        { return "panics" }
func (panicKind) Mint(context.Context, rotation.Credentials, rotation.SourceConfig) (rotation.Token, error) {
	return rotation.Token{Username: "u", Password: "minted-but-never-proven"}, nil
}
func (panicKind) Domains(context.Context, rotation.Credentials, rotation.SourceConfig) ([]rotation.Domain, error) {
	panic("domain lookup bug")
}

// The same for the one-time domain lookup: a panic there must not leave the
// other secrets with no registry and no error.
func TestPanicInDomainLookupWritesNothing(t *testing.T) {
	cat := catalog.Kinds()
	cat.Sources = append(cat.Sources, panicKind{})
	emu, r, _ := engineWith(t, 3, nil, `{"type":"panics","loginCheck":"off"}`, cat)
	rep := r.Run(context.Background(), invocation(`{"action":"rotate"}`))
	if rep.Failed != 3 {
		t.Errorf("%d of 3 secrets failed, want all: %s", rep.Failed, rep.JSON())
	}
	for _, res := range rep.Results {
		if res.Error == nil || !strings.Contains(res.Error.Message, "internal error") {
			t.Errorf("%s: %+v, want a failure naming an internal error", res.Where.Describe(), res.Error)
		}
	}
	for _, c := range emu.Calls() {
		if c.Action == "UpdateSecret" {
			t.Errorf("secret %s was written without a registry domain", c.Query.Get("SecretId"))
		}
	}
}

// A reason is cut to 256 characters in the report and the logs.
func TestReasonIsCut(t *testing.T) {
	_, r, logs := engine(t, 1, nil)
	long := strings.Repeat("é", 300)
	rep := r.Run(context.Background(), invocation(`{"action":"plan","reason":"`+long+`"}`))
	if !rep.OK() {
		t.Fatalf("report: %s", rep.JSON())
	}
	if n := utf8.RuneCountInString(rep.Reason); n != 256 || !strings.HasPrefix(long, rep.Reason) {
		t.Errorf("the report's reason has %d characters, want its first 256", n)
	}
	logged := 0
	for _, e := range logs.All() {
		if v, ok := e.ContextMap()["reason"].(string); ok && strings.HasPrefix(v, "é") {
			logged++
			if n := utf8.RuneCountInString(v); n != 256 {
				t.Errorf("%q logs a reason of %d characters, want 256", e.Message, n)
			}
		}
	}
	if logged == 0 {
		t.Error("no log line carries the reason")
	}
}

// The line that starts an event's run names the event's source, type and
// the instance its data names (the ACR sources say which: the engine reads
// no data), whether or not a target matches.
func TestEventRunLogLine(t *testing.T) {
	_, r, logs := engine(t, 1, nil)
	for _, tc := range []struct{ instance, want string }{{"cri-engine", "rotated"}, {"cri-other", ""}} {
		ev := `{"specversion":"1.0","id":"e1","source":"acs.cr","type":"cr:Artifact:PushCompleted","data":{"InstanceId":"` + tc.instance + `","RegionId":"cn-hangzhou"}}`
		rep := r.Run(context.Background(), invocation(ev))
		if !rep.OK() || (tc.want == "") != (len(rep.Results) == 0) {
			t.Fatalf("%s: %s", tc.instance, rep.JSON())
		}
		started := logs.FilterMessage("rotation started").TakeAll()
		if len(started) != 1 {
			t.Fatalf("%s: %d lines say the rotation started", tc.instance, len(started))
		}
		f := started[0].ContextMap()
		if f["eventSource"] != "acs.cr" || f["eventType"] != "cr:Artifact:PushCompleted" || f["eventInstanceId"] != tc.instance || f["trigger"] != "event" {
			t.Errorf("%s: the run starts with %v", tc.instance, f)
		}
		logs.TakeAll()
	}
}
