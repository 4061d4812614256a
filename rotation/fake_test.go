package rotation

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// An in-memory store and source on a fake clock, implementing the ports,
// for the engine's timing rules: every call takes the store's latency in
// fake time and is recorded with its time, and knobs script the answers.

// fakeCall is one call that reached the fake store or source.
type fakeCall struct {
	op     string    // "read", "write", "readback"; "domains", "mint"
	name   string    // the secret
	at     time.Time // when it reached the store
	readAt time.Time // a write's: when the read its merge was made from reached the store
	err    error     // its answer, nil when served
}

// fakeStore is a secret store of named secrets. Secrets whose refs share a
// group are read together, as SAE reads a namespace.
type fakeStore struct {
	clock   *fakeClock
	quota   port.Quota
	latency time.Duration // each call takes this long, in fake time
	// keepsChanged: reads say when the secret last changed (Secret.Changed).
	keepsChanged bool
	// answer scripts a call's answer before it is served: nil serves it.
	// n counts the calls of its op so far, this one included.
	answer func(op string, n int) error

	mu      sync.Mutex
	secrets map[string]*fakeSecret
	calls   []fakeCall
	counts  map[string]int
	// lagReads and lagBacks: the next reads (read-backs) of a written
	// secret show it as it was before its last write.
	lagReads, lagBacks int
}

type fakeSecret struct {
	group   string
	config  []byte
	prev    []byte // before the last write
	changed time.Time
	version int
}

func newFakeStore(clock *fakeClock) *fakeStore {
	return &fakeStore{clock: clock, secrets: map[string]*fakeSecret{}, counts: map[string]int{}}
}

// put stores a secret; group "" reads it alone.
func (s *fakeStore) put(name, group, config string, changed time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[name] = &fakeSecret{group: group, config: []byte(config), changed: changed}
}

func (s *fakeStore) config(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.secrets[name].config)
}

// callsOf lists the calls of an op ("" for all).
func (s *fakeStore) callsOf(op string) []fakeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakeCall
	for _, c := range s.calls {
		if op == "" || c.op == op {
			out = append(out, c)
		}
	}
	return out
}

// enter records a call reaching the store and spends its latency.
func (s *fakeStore) enter(op, name string, readAt time.Time) error {
	at := s.clock.Now()
	s.clock.Advance(s.latency)
	s.mu.Lock()
	s.counts[op]++
	n := s.counts[op]
	s.mu.Unlock()
	var err error
	if s.answer != nil {
		err = s.answer(op, n)
	}
	s.mu.Lock()
	s.calls = append(s.calls, fakeCall{op: op, name: name, at: at, readAt: readAt, err: err})
	s.mu.Unlock()
	return err
}

func (s *fakeStore) Quota() port.Quota { return s.quota }

// fakeHandle is what a read of a secret hands its write and read-back.
type fakeHandle struct {
	name   string
	readAt time.Time
}

func (s *fakeStore) Read(_ context.Context, _ port.Credentials, ref port.SecretRef) (port.Snapshot, error) {
	r := ref.(*fakeRef)
	at := s.clock.Now()
	if err := s.enter("read", r.Name, time.Time{}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := fakeSnapshot{}
	for name, sec := range s.secrets {
		if name == r.Name || (r.With != "" && sec.group == r.With) {
			snap[name] = s.shown(name, sec, at, &s.lagReads)
		}
	}
	return snap, nil
}

// shown is a secret as a read shows it: lagging while *lag counts down.
func (s *fakeStore) shown(name string, sec *fakeSecret, at time.Time, lag *int) port.Secret {
	cfg := sec.config
	if *lag > 0 && sec.version > 0 {
		*lag--
		cfg = sec.prev
	}
	out := port.Secret{Where: (&fakeRef{Name: name}).Where(), ID: name, Config: append([]byte(nil), cfg...),
		Version: strconv.Itoa(sec.version), Handle: fakeHandle{name: name, readAt: at}}
	if s.keepsChanged {
		out.Changed = sec.changed
	}
	return out
}

type fakeSnapshot map[string]port.Secret

func (f fakeSnapshot) Find(ref port.SecretRef) (port.Secret, error) {
	r := ref.(*fakeRef)
	sec, ok := f[r.Name]
	if !ok {
		return port.Secret{}, port.Errorf(port.SecretNotFound, "%s does not exist", r.Describe())
	}
	return sec, nil
}

func (s *fakeStore) Write(_ context.Context, _ port.Credentials, sec port.Secret, config []byte) (string, error) {
	h := sec.Handle.(fakeHandle)
	at := s.clock.Now()
	if err := s.enter("write", h.name, h.readAt); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := s.secrets[h.name]
	stored.prev, stored.config = stored.config, append([]byte(nil), config...)
	stored.changed, stored.version = at, stored.version+1
	return strconv.Itoa(stored.version), nil
}

func (s *fakeStore) ReadBack(_ context.Context, _ port.Credentials, sec port.Secret, _ string) (port.Secret, error) {
	h := sec.Handle.(fakeHandle)
	at := s.clock.Now()
	if err := s.enter("readback", h.name, time.Time{}); err != nil {
		return port.Secret{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown(h.name, s.secrets[h.name], at, &s.lagBacks), nil
}

// fakeRef is a secret of the fake store, by name; secrets of one group are
// read together.
type fakeRef struct {
	Name string `json:"name"`
	With string `json:"group,omitempty"` // the group it is read with
}

func (r *fakeRef) Validate() error { return nil }
func (r *fakeRef) Key() string     { return r.Name }
func (r *fakeRef) Group() string {
	if r.With != "" {
		return r.With
	}
	return r.Name
}
func (r *fakeRef) Where() port.Where {
	return port.Where{Store: "fake", Region: "test", Fields: []port.Field{port.String("secretName", r.Name)}}
}
func (r *fakeRef) Describe() string { return r.Where().Describe() }

type fakeStoreKind struct{ st *fakeStore }

func (fakeStoreKind) Name() string                          { return "fake" }
func (fakeStoreKind) NewRef() port.SecretRef                { return &fakeRef{} }
func (k fakeStoreKind) Open(port.Env) (port.Store, error)   { return k.st, nil }
func (fakeSourceKind) Name() string                         { return "fake-source" }
func (fakeSourceKind) NewConfig() port.SourceConfig         { return &fakeSourceConfig{} }
func (k fakeSourceKind) Open(port.Env) (port.Source, error) { return k.src, nil }

type fakeSourceKind struct{ src *fakeSource }

// fakeSource mints tokens that live an hour, for the registry hosts its
// configuration names.
type fakeSource struct {
	clock *fakeClock

	mu     sync.Mutex
	minted int
}

func (s *fakeSource) Domains(_ context.Context, _ port.Credentials, cfg port.SourceConfig) ([]port.Domain, error) {
	var doms []port.Domain
	for _, h := range strings.Split(cfg.(*fakeSourceConfig).Hosts, ",") {
		doms = append(doms, port.Domain{Host: h})
	}
	return doms, nil
}

func (s *fakeSource) Mint(context.Context, port.Credentials, port.SourceConfig) (port.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minted++
	return port.Token{Username: "fake-user", Password: fmt.Sprintf("fake-token-%d-of-the-source", s.minted), ExpiresAt: s.clock.Now().Add(time.Hour)}, nil
}

type fakeSourceConfig struct {
	Hosts string `json:"hosts"` // the registry hosts, comma-separated
}

func (c *fakeSourceConfig) Validate() error { return nil }
func (c *fakeSourceConfig) Key() string     { return c.Hosts }
func (c *fakeSourceConfig) Matches(ev port.Event) bool {
	var data struct{ Hosts string }
	return json.Unmarshal(ev.Data, &data) == nil && data.Hosts == c.Hosts
}
func (c *fakeSourceConfig) Describe() string { return "fake-source " + c.Hosts }

// fakeWorld is a Rotator on a fake clock with a fake store and source.
type fakeWorld struct {
	t     *testing.T
	clock *fakeClock
	store *fakeStore
	src   *fakeSource
	logs  *observer.ObservedLogs
}

func newFakeWorld(t *testing.T) *fakeWorld {
	clock := newFakeClock()
	return &fakeWorld{t: t, clock: clock, store: newFakeStore(clock), src: &fakeSource{clock: clock}}
}

// fakeHosts are the registry hosts of the fake source's target "t".
const fakeHosts = "r.example.com"

// rotator opens a Rotator on the world with a configuration whose top
// level is settings (JSON members, "" for none) and whose one target,
// "t", its source minting for fakeHosts, holds the secrets named, each
// "name" or "name@group" (read with its group).
func (f *fakeWorld) rotator(settings string, secrets ...string) *Rotator {
	f.t.Helper()
	return f.rotatorOf(settings, target("t", fakeHosts, secrets...))
}

// target is a target of the fake source minting for hosts (comma-separated).
func target(name, hosts string, secrets ...string) string {
	refs := make([]string, len(secrets))
	for i, s := range secrets {
		name, group, _ := strings.Cut(s, "@")
		refs[i] = fmt.Sprintf(`{"store":"fake","name":%q,"group":%q}`, name, group)
	}
	return fmt.Sprintf(`{"name":%q,"source":{"type":"fake-source","hosts":%q,"loginCheck":"off"},"secrets":[%s]}`, name, hosts, strings.Join(refs, ","))
}

// rotatorOf opens a Rotator with targets made by target.
func (f *fakeWorld) rotatorOf(settings string, targets ...string) *Rotator {
	f.t.Helper()
	if settings != "" {
		settings += ","
	}
	doc := fmt.Sprintf(`{%s"targets":[%s]}`, settings, strings.Join(targets, ","))
	cfg, err := ParseConfig([]byte(doc), "test", Catalog{Stores: []StoreKind{fakeStoreKind{f.store}}, Sources: []SourceKind{fakeSourceKind{f.src}}})
	if err != nil {
		f.t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	f.logs = logs
	r := New(cfg, nil, zap.New(core), Options{Clock: f.clock})
	if err := r.ConfigError(); err != nil {
		f.t.Fatal(err)
	}
	// No jitter: a throttle pauses exactly its base wait, doubling.
	for _, st := range r.stores {
		st.lane.pacer.jitter = func() float64 { return 0.5 }
	}
	r.unpaced.pacer.jitter = func() float64 { return 0.5 }
	return r
}

// run invokes r with an event; a deadline, when not zero, is that long
// after the fake clock's now.
func (f *fakeWorld) run(r *Rotator, event string, retry int, deadline time.Duration) *Report {
	ctx := context.Background()
	if deadline > 0 {
		// The fake clock starts at the wall clock's time: the context's own
		// timer fires only long after the test is done, and the engine
		// judges the deadline by the fake clock.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, f.clock.Now().Add(deadline))
		defer cancel()
	}
	return r.Run(ctx, Invocation{RequestID: "fake", Event: []byte(event), RetryCount: retry,
		Credentials: Credentials{AccessKeyID: "fake-id", AccessKeySecret: "fake-secret-of-the-function"}})
}

const (
	timerRun  = `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t"}`
	rotateAll = `{"action":"rotate"}`
)

// cloudEvent is an event the fake source of hosts matches.
func cloudEvent(hosts string) string {
	return `{"specversion":"1.0","id":"e1","source":"fake","type":"push","data":{"Hosts":"` + hosts + `"}}`
}

// apiError is a failed call as the adapters report it.
func apiError(status int, code string, throttled bool) error {
	return &port.CallError{Product: "fake", Action: "call", Status: status, Code: code, Throttle: throttled}
}

// holds reports whether a docker config holds the token for every host.
func holds(config string, hosts []string, token string) bool {
	again, err := dockercfg.MergeJSON([]byte(config), hosts, dockercfg.Credential{Username: "fake-user", Password: token})
	if err != nil {
		return false
	}
	eq, err := dockercfg.EquivalentJSON(again, []byte(config))
	return err == nil && eq
}

// statusOf is each result's status, or its error's code.
func statusOf(rep *Report) []string {
	out := make([]string, len(rep.Results))
	for i, r := range rep.Results {
		out[i] = r.Status
		if r.Error != nil {
			out[i] = string(r.Error.Code)
		}
	}
	return out
}
