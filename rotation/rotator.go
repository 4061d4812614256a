package rotation

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Rotator rotates registry credentials into secret stores. One Rotator
// serves every invocation of an FC instance: its pacers, per-secret locks
// and last writes are shared by all of them, concurrently.
type Rotator struct {
	cfg     *Config
	cfgErr  error
	log     *zap.Logger
	stores  map[string]*storeRT // by store kind name
	sources map[string]Source   // by source kind name
	prover  Prover
	unpaced *lane // sources and registries: outside every store's quota
	locks   keyedMutex
	clock   Clock

	mu         sync.Mutex
	lastWrites map[string]time.Time // secret key → when this instance last wrote it (or may have)
	rotations  map[string]time.Time // secret key → when this instance last rotated it (written and verified)
}

// storeRT is an opened store with its lane (pacer and latency).
type storeRT struct {
	store Store
	lane  *lane
}

// Options are the Rotator's collaborators besides the configuration.
type Options struct {
	// Getenv reads the environment when the kinds are opened (os.Getenv).
	Getenv func(string) string
	// Prover logs in with each new token before it is written; nil skips
	// the check (results say "login":"skipped").
	Prover Prover
	// Clock is the engine's time; nil is the wall clock.
	Clock Clock
}

// New returns a Rotator, opening every store and source kind the
// configuration uses. cfgErr, or an error opening a kind, makes every
// invocation fail with InvalidConfig: FC starts the instance once, and each
// invocation must say why.
func New(cfg *Config, cfgErr error, log *zap.Logger, opts Options) *Rotator {
	if cfg == nil && cfgErr == nil {
		cfgErr = errorf(InvalidConfig, "no configuration")
	}
	r := &Rotator{cfg: cfg, cfgErr: cfgErr, log: log, prover: opts.Prover, clock: opts.Clock, lastWrites: map[string]time.Time{}, rotations: map[string]time.Time{},
		stores: map[string]*storeRT{}, sources: map[string]Source{}}
	if r.clock == nil {
		r.clock = wallClock{}
	}
	if r.cfgErr == nil {
		r.cfgErr = r.open(opts)
	}
	return r
}

// ConfigError is why every invocation will be refused, or nil.
func (r *Rotator) ConfigError() error { return r.cfgErr }

func (r *Rotator) open(opts Options) error {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	env := Env{Getenv: getenv, APITimeout: r.cfg.APITimeout.Duration, Quota: r.cfg.Quota.port()}
	r.unpaced = newLane("unpaced", port.Quota{}, r.cfg.ThrottleWait.Duration, r.clock)
	for _, t := range r.cfg.Targets {
		if _, ok := r.sources[t.Source.Type]; !ok {
			src, err := t.Source.kind.Open(env)
			if err != nil {
				return configError(err)
			}
			r.sources[t.Source.Type] = src
		}
		for _, s := range t.Secrets {
			if _, ok := r.stores[s.Store]; ok {
				continue
			}
			st, err := s.kind.Open(env)
			if err != nil {
				return configError(err)
			}
			r.stores[s.Store] = &storeRT{store: st, lane: newLane(s.Store, st.Quota(), r.cfg.ThrottleWait.Duration, r.clock)}
		}
	}
	return nil
}

func configError(err error) error {
	if CodeOf(err) != "" {
		return err
	}
	return errorf(InvalidConfig, "%v", err)
}

// Invocation is one call of the function.
type Invocation struct {
	RequestID   string
	Event       []byte
	Credentials Credentials
	// Origin names where the event came from in its errors (the command
	// line's `event file "x.json"`); empty in FC.
	Origin string
	// RetryCount is FC's x-fc-retry-count: above 0, this is FC retrying an
	// asynchronous invocation that ended in error.
	RetryCount int
}

// reserve is kept back from the invocation's deadline to return the report.
const reserve = 500 * time.Millisecond

// Run handles one invocation and always returns a report; check Report.OK.
func (r *Rotator) Run(ctx context.Context, inv Invocation) *Report {
	start := r.clock.Now()
	rep := &Report{RequestID: inv.RequestID, Results: []Result{}}
	log := r.log.With(zap.String("requestId", inv.RequestID))
	refuse := func(err error) *Report {
		e := asError(err, InvalidConfig)
		rep.Error = &ResultError{Code: e.Code, Message: e.Message}
		log.Error("invocation refused", zap.String("code", string(e.Code)), zap.String("error", e.Message))
		return rep
	}
	req, evErr := DecodeEvent(inv.Event)
	req.Reason = cutReason(req.Reason)
	if evErr == nil {
		// Said even when the invocation is refused, so the report tells
		// what asked for it.
		rep.Trigger, rep.DryRun, rep.Emergency, rep.Reason = req.Trigger, req.DryRun, req.Emergency, req.Reason
	}
	if r.cfgErr != nil {
		return refuse(r.cfgErr)
	}
	if evErr != nil {
		if inv.Origin != "" {
			evErr = errorf(InvalidEvent, "%s: %s", inv.Origin, asError(evErr, InvalidEvent).Message)
		}
		return refuse(evErr)
	}
	items, err := r.cfg.plan(req)
	if err != nil {
		return refuse(err)
	}
	fields := []zap.Field{zap.String("trigger", req.Trigger), zap.String("action", req.Action),
		zap.Bool("dryRun", req.DryRun), zap.Bool("emergency", req.Emergency), zap.Int("secrets", len(items))}
	if req.Reason != "" {
		fields = append(fields, zap.String("reason", req.Reason))
	}
	if inv.RetryCount > 0 {
		fields = append(fields, zap.Int("retryCount", inv.RetryCount))
	}
	if req.Registry != nil {
		fields = append(fields, zap.String("eventSource", req.Registry.Source), zap.String("eventType", req.Registry.Type),
			zap.String("eventInstanceId", req.Registry.InstanceID))
	}
	if req.Emergency {
		log.Warn("emergency rotation requested", fields...)
	} else {
		log.Info("rotation started", fields...)
	}
	if len(items) == 0 {
		log.Info("the event matches no target: nothing to do")
		return rep
	}

	if err := r.checkCredentials(inv.Credentials, items); err != nil {
		return refuse(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	w := &invocation{r: r, req: req, creds: inv.Credentials, log: log, redact: &redactor{}, start: start, retry: inv.RetryCount > 0,
		readers: map[string]*groupReader{}, sources: map[string]*sourceState{}, own: map[string]*ownWrites{}}
	// The function's own keys, and every other credential the kinds hold,
	// must never be quoted back either.
	w.redact.add(inv.Credentials.AccessKeySecret, inv.Credentials.SecurityToken)
	for _, st := range r.stores {
		w.redact.add(sensitiveOf(st.store)...)
	}
	for _, src := range r.sources {
		w.redact.add(sensitiveOf(src)...)
	}
	rep.Results = make([]Result, len(items))
	g := new(errgroup.Group)
	g.SetLimit(r.cfg.Concurrency)
	var done atomic.Int64
	for i, it := range items {
		g.Go(func() error {
			res := w.rotate(ctx, it)
			rep.Results[i] = res
			// How far the run is: n of the invocation's secrets are done.
			log.Info("progress", append(whereFields(res.Where), zap.Int64("n", done.Add(1)), zap.Int("of", len(items)),
				zap.String("target", res.Target), zap.String("status", res.Status))...)
			return nil
		})
	}
	_ = g.Wait() // workers report through results, never through errors
	rep.count()
	log.Info("rotation finished", zap.Int("rotated", rep.Rotated), zap.Int("planned", rep.Planned), zap.Int("skipped", rep.Skipped),
		zap.Int("failed", rep.Failed))
	return rep
}

// longWait is a pacer wait long enough to say at info level: a run that
// waits this long would otherwise look stuck.
const longWait = 5 * time.Second

// logWait says why a call on a lane waits, and for how long: the quota's
// pace or a throttle pause (waitQuota, waitThrottle).
func (w *invocation) logWait(ln *lane, api string) func(time.Duration, string) {
	return func(d time.Duration, why string) {
		lvl := zapcore.DebugLevel
		if d > longWait {
			lvl = zapcore.InfoLevel
		}
		w.log.Log(lvl, "waiting for the pacer", zap.String("pacer", ln.name), zap.String("api", api), zap.Duration("wait", d), zap.String("why", why))
	}
}

// checkCredentials lets the stores and sources that sign with the
// function's own credentials refuse an invocation that has none.
func (r *Rotator) checkCredentials(creds Credentials, items []item) error {
	type checker interface{ CheckCredentials(Credentials) error }
	for _, it := range items {
		for _, v := range []any{r.stores[it.spec.Store].store, r.sources[it.target.Source.Type]} {
			if c, ok := v.(checker); ok {
				if err := c.CheckCredentials(creds); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sensitiveOf asks an adapter for the secrets it holds (another cloud's
// keys, an assumed role's session), if it has any.
func sensitiveOf(v any) []string {
	if s, ok := v.(interface{ Sensitive() []string }); ok {
		return s.Sensitive()
	}
	return nil
}

// item is one secret of one target selected by the plan.
type item struct {
	target *Target
	spec   SecretSpec
}

// plan selects the secrets an event asks for.
func (c *Config) plan(req Request) ([]item, error) {
	var targets []*Target
	switch {
	case req.Registry != nil:
		for i := range c.Targets {
			if t := &c.Targets[i]; t.Source.Config.Matches(*req.Registry) {
				targets = append(targets, t)
			}
		}
	case len(req.Targets) > 0:
		byName := map[string]*Target{}
		for i := range c.Targets {
			byName[c.Targets[i].Name] = &c.Targets[i]
		}
		for _, name := range req.Targets {
			t, ok := byName[name]
			if !ok {
				known := make([]string, 0, len(c.Targets))
				for _, t := range c.Targets {
					known = append(known, t.Name)
				}
				return nil, errorf(UnknownTarget, "no target is named %q (configured: %v)", name, known)
			}
			targets = append(targets, t)
		}
	default:
		for i := range c.Targets {
			targets = append(targets, &c.Targets[i])
		}
	}
	var items []item
	for _, t := range targets {
		for _, s := range t.Secrets {
			items = append(items, item{target: t, spec: s})
		}
	}
	return items, nil
}

// keyedMutex serialises work on one secret across invocations of an instance.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

// lock takes the key's lock or gives up when ctx ends.
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// latency tracks a slow-moving estimate of one API call's duration, to
// judge whether a secret can still finish before the deadline.
type latency struct {
	mu  sync.Mutex
	est time.Duration
}

func (l *latency) observe(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.est == 0 {
		l.est = d
		return
	}
	// Rise fast, fall slowly: an underestimate risks a write cut short.
	if d > l.est {
		l.est = (l.est + d) / 2
	} else {
		l.est = (7*l.est + d) / 8
	}
}

func (l *latency) get() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.est == 0 {
		return 300 * time.Millisecond
	}
	return l.est
}

func (r *Rotator) lastWrite(key string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastWrites[key]
}

func (r *Rotator) wrote(key string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastWrites[key] = at
}

func (r *Rotator) lastRotation(key string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rotations[key]
}

func (r *Rotator) rotated(at time.Time, keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.rotations[k] = at
	}
}

func appsOf(s Secret) []App {
	if s.Consumers == nil {
		return nil
	}
	apps := append(make([]App, 0, len(s.Consumers)), s.Consumers...)
	sort.Slice(apps, func(i, j int) bool { return apps[i].AppID < apps[j].AppID })
	return apps
}
