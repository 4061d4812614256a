package rotation

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/sae-secret-rotator/rotator/internal/pacer"
)

// Rotator rotates registry credentials into SAE secrets. One Rotator serves
// every invocation of an FC instance: its pacer and per-secret locks are
// shared by all of them, concurrently.
type Rotator struct {
	cfg     *Config
	cfgErr  error
	backend Backend
	log     *zap.Logger
	pacer   *pacer.Pacer
	locks   keyedMutex
	latency latency
	now     func() time.Time

	mu         sync.Mutex
	lastWrites map[string]time.Time // secret key → when this instance last wrote it
}

// New returns a Rotator. cfgErr, when set, makes every invocation fail with
// InvalidConfig: FC starts the instance once, and each invocation must say why.
func New(cfg *Config, cfgErr error, backend Backend, log *zap.Logger) *Rotator {
	if cfg == nil && cfgErr == nil {
		cfgErr = errorf(InvalidConfig, "no configuration")
	}
	r := &Rotator{cfg: cfg, cfgErr: cfgErr, backend: backend, log: log, now: time.Now, lastWrites: map[string]time.Time{}}
	if cfg != nil {
		r.pacer = pacer.New(cfg.Quota.Calls, cfg.Quota.Per.Duration)
	}
	return r
}

// Invocation is one call of the function.
type Invocation struct {
	RequestID   string
	Event       []byte
	Credentials Credentials
}

// reserve is kept back from the invocation's deadline to return the report.
const reserve = 500 * time.Millisecond

// Run handles one invocation and always returns a report; check Report.OK.
func (r *Rotator) Run(ctx context.Context, inv Invocation) *Report {
	rep := &Report{RequestID: inv.RequestID, Results: []Result{}}
	log := r.log.With(zap.String("requestId", inv.RequestID))
	refuse := func(err error) *Report {
		e := asError(err, InvalidConfig)
		rep.Error = &ResultError{Code: e.Code, Message: e.Message}
		log.Error("invocation refused", zap.String("code", string(e.Code)), zap.String("error", e.Message))
		return rep
	}
	if r.cfgErr != nil {
		return refuse(r.cfgErr)
	}
	req, err := DecodeEvent(inv.Event)
	if err != nil {
		return refuse(err)
	}
	rep.Trigger, rep.DryRun, rep.Emergency, rep.Reason = req.Trigger, req.DryRun, req.Emergency, req.Reason
	items, err := r.cfg.plan(req)
	if err != nil {
		return refuse(err)
	}
	fields := []zap.Field{zap.String("trigger", req.Trigger), zap.String("action", req.Action),
		zap.Bool("dryRun", req.DryRun), zap.Bool("emergency", req.Emergency), zap.Int("secrets", len(items))}
	if req.Reason != "" {
		fields = append(fields, zap.String("reason", req.Reason))
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
	if inv.Credentials.AccessKeyID == "" || inv.Credentials.AccessKeySecret == "" {
		return refuse(errorf(InvalidConfig, "no credentials: FC passes the function role's credentials; outside FC set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
	}

	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	w := &invocation{r: r, req: req, creds: inv.Credentials, log: log, redact: &redactor{},
		stores: map[string]SecretStore{}, readers: map[string]*nsReader{}, sources: map[string]*sourceState{}}
	rep.Results = make([]Result, len(items))
	g := new(errgroup.Group)
	g.SetLimit(r.cfg.Concurrency)
	for i, it := range items {
		g.Go(func() error {
			rep.Results[i] = w.rotate(ctx, it)
			return nil
		})
	}
	_ = g.Wait() // workers report through results, never through errors
	rep.count()
	log.Info("rotation finished", zap.Int("rotated", rep.Rotated), zap.Int("planned", rep.Planned), zap.Int("failed", rep.Failed))
	return rep
}

// item is one secret of one target selected by the plan.
type item struct {
	target *Target
	ref    SecretRef
}

// plan selects the secrets an event asks for.
func (c *Config) plan(req Request) ([]item, error) {
	var targets []*Target
	switch {
	case req.Registry != nil:
		for i := range c.Targets {
			t := &c.Targets[i]
			if req.Registry.Source == "acs.cr" && req.Registry.InstanceID != "" && t.Source.InstanceID == req.Registry.InstanceID &&
				(req.Registry.RegionID == "" || req.Registry.RegionID == t.Source.RegionID) {
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
			items = append(items, item{target: t, ref: s})
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

func secretKey(ns string, id int64) string { return ns + "/" + strconv.FormatInt(id, 10) }

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

func appsOf(s Secret) []App {
	apps := append([]App(nil), s.RelateApps...)
	sort.Slice(apps, func(i, j int) bool { return apps[i].AppID < apps[j].AppID })
	return apps
}

func refFields(it item) []zap.Field {
	f := []zap.Field{zap.String("target", it.target.Name), zap.String("namespaceId", it.ref.NamespaceID)}
	if it.ref.SecretName != "" {
		f = append(f, zap.String("secretName", it.ref.SecretName))
	}
	return f
}

func describeRef(ref SecretRef) string {
	if ref.SecretName != "" {
		return fmt.Sprintf("secret %q in namespace %s", ref.SecretName, ref.NamespaceID)
	}
	return fmt.Sprintf("secret %d in namespace %s", ref.SecretID, ref.NamespaceID)
}
