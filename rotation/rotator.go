package rotation

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Rotator rotates registry credentials into secret stores. One Rotator
// serves every invocation of an FC instance: its pacers, per-secret locks
// and last writes (instance.go) are shared by all of them, concurrently.
//
// An invocation goes through the stages in the order of their files:
// plan.go (which secrets), then for each secret resolve.go (read it, lock
// it, judge the cooldown), mint.go (mint and prove the token), write.go
// (merge and write, with the fresh-read rule), verify.go, and report.go.
// call.go and pacer.go make every API call; redact.go keeps every secret the
// invocation learns out of what it prints.
type Rotator struct {
	instance
	cfg    *Config
	cfgErr error
	log    *zap.Logger
	prover Prover
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
	r := &Rotator{instance: newInstance(opts.Clock), cfg: cfg, cfgErr: cfgErr, log: log, prover: opts.Prover}
	if r.cfgErr == nil {
		r.cfgErr = r.open(cfg, opts.Getenv)
	}
	return r
}

// ConfigError is why every invocation will be refused, or nil.
func (r *Rotator) ConfigError() error { return r.cfgErr }

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

// invocation is the state of one Run: the reads and the tokens it shares
// between its secrets, and what it must never print.
type invocation struct {
	r      *Rotator
	req    Request
	creds  Credentials
	log    *zap.Logger
	redact *redactor // fed by learn only (redact.go)

	start time.Time // when Run began: an emergency run's throttling counts from it
	retry bool      // FC retrying an invocation that ended in error

	mu      sync.Mutex
	readers map[string]*groupReader // by store and group (resolve.go)
	sources map[string]*sourceState // by source key (resolve.go, mint.go)
	own     map[string]*ownWrites   // by secret key: this invocation's writes (write.go)
}

// reserve is kept back from the invocation's deadline to return the report.
const reserve = 500 * time.Millisecond

// Run handles one invocation and always returns a report; check Report.OK.
func (r *Rotator) Run(ctx context.Context, inv Invocation) *Report {
	w := &invocation{r: r, creds: inv.Credentials, log: r.log.With(zap.String("requestId", inv.RequestID)), redact: &redactor{},
		start: r.clock.Now(), retry: inv.RetryCount > 0, readers: map[string]*groupReader{}, sources: map[string]*sourceState{}, own: map[string]*ownWrites{}}
	rep := &Report{RequestID: inv.RequestID, Results: []Result{}}
	items, err := w.plan(inv, w.request(inv, rep))
	if err != nil {
		return w.refused(rep, err)
	}
	if len(items) == 0 {
		return rep
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	// The function's own keys, and every other credential the kinds hold,
	// must never be quoted back either.
	w.learn(inv.Credentials)
	for _, st := range r.stores {
		w.learn(held(st.store))
	}
	for _, src := range r.sources {
		w.learn(held(src))
	}
	rep.Results = make([]Result, len(items))
	g := new(errgroup.Group)
	g.SetLimit(r.cfg.Concurrency)
	var done atomic.Int64
	for i, it := range items {
		g.Go(func() error {
			rep.Results[i] = w.rotate(ctx, it)
			w.progress(rep.Results[i], done.Add(1), len(items))
			return nil
		})
	}
	_ = g.Wait() // workers report through results, never through errors
	w.finished(rep)
	return rep
}
