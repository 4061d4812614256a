package rotation

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// job is one secret's rotation as it goes through the stages: resolved
// (read, with its source's registry hosts) and locked here, then minted
// for, written and verified.
type job struct {
	it    item
	st    *storeRT
	src   *sourceState
	doms  []Domain
	hosts []string
	read  *secretRead
	sec   Secret // the read that resolved the secret
	key   string // the secret's own key: its store and ID
	// bySource suffixes this instance's memory of a rotation: it is kept
	// per source, since another target's rotation of the same secret wrote
	// other hosts and hides none of these.
	bySource string
	refKey   string // the secret as configured: its store and ref

	unlock  func()
	landed  bool // a write may have been stored
	rotated bool // the write was taken and shown: the cooldown starts
}

// perSecretFloor is the time a secret needs besides its API calls
// (verification retries of lagging reads, scheduling).
const perSecretFloor = time.Second

// resolve reads the secret (resolving its name first where a group read
// names it), looks up its source's registry hosts and takes the secret's
// lock, judging the event cooldown before the read, at no call, and after
// it. It returns false when the secret failed or is skipped.
func (w *invocation) resolve(ctx context.Context, j *job, res *Result) (bool, error) {
	it := j.it
	j.st = w.r.stores[it.spec.Store]
	if !w.fits(ctx, j.st.lane, 3) {
		return false, errorf(DeadlineExceeded, "not started: it could not finish before the invocation's deadline")
	}
	j.bySource = "|" + it.target.Source.Type + "/" + it.target.Source.Config.Key()
	j.refKey = it.spec.Store + "/" + it.spec.Ref.Key()
	if w.coolingDown(j.refKey+j.bySource, j.refKey, Secret{}, nil, res) {
		return false, nil
	}
	j.src = w.source(it.target.Source)
	var err error
	if j.doms, err = j.src.domains(ctx, w); err != nil {
		return false, err
	}
	j.hosts = hosts(j.doms)
	j.read = w.secretRead(j.st, it.spec)

	// Resolve the secret first (by name it needs a read), then hold its lock.
	_, j.sec, err = j.read.read(ctx, time.Time{})
	res.Where = mergeWhere(res.Where, j.sec.Where)
	if err != nil {
		return false, err
	}
	j.key = it.spec.Store + "/" + j.sec.ID
	if j.unlock, err = w.r.locks.lock(ctx, j.key); err != nil {
		return false, errorf(DeadlineExceeded, "not started: waited for another invocation rotating the same secret until the deadline")
	}
	if w.coolingDown(j.key+j.bySource, j.key, j.sec, j.hosts, res) {
		w.release(j, res)
		return false, nil // it cost its read: no mint, no login, no write
	}
	return true, nil
}

// fits reports whether `calls` more calls on a lane can finish before the deadline.
func (w *invocation) fits(ctx context.Context, ln *lane, calls int) bool {
	dl, ok := ctx.Deadline()
	if !ok {
		return true
	}
	need := ln.pacer.delay(calls) + time.Duration(calls)*ln.latency.get() + perSecretFloor
	return w.r.clock.Now().Add(need).Before(dl)
}

// coolingDown reports (and records in res) a secret that changed less than
// eventCooldown ago (lastChange), met by an event run or by FC's retry of a
// failed one: skipped. memKey is this instance's memory of rotating the
// secret for this source; secretKey names the secret alone (zero sec:
// before the read). Before the read only that memory counts, at no call;
// after it, the store's record too, unless this instance itself wrote the
// secret within the cooldown: the record then shows that write, made for
// another source perhaps, and the memory, kept per source, decides. A change
// the cooldown or more in the future (a clock or a parse gone wrong) never
// holds.
func (w *invocation) coolingDown(memKey, secretKey string, sec Secret, hosts []string, res *Result) bool {
	if w.req.Trigger != TriggerEvent && (!w.retry || w.req.DryRun) {
		return false
	}
	cd := w.r.cfg.EventCooldown.Duration
	now := w.r.clock.Now()
	if wrote := w.r.lastWrite(secretKey); !wrote.IsZero() && now.Sub(wrote) < cd {
		sec.Changed = time.Time{}
	}
	last := lastChange(w.r.lastRotation(memKey), sec, hosts)
	if age := now.Sub(last); last.IsZero() || age >= cd || age <= -cd {
		return false
	}
	res.Status, res.Reason, res.Registries = StatusSkipped, ReasonCooldown, nil
	return true
}

// lastChange is when a secret last changed as far as the event cooldown and
// the retry rule can tell (coolingDown): the later of this instance's last
// rotation of it (rotated, zero when none) and the store's own record of
// its last change (sec.Changed, zero when the store keeps none and before
// the secret is read). That record holds in a new instance and for the
// command line, but it does not say who changed the secret: it counts only
// where the docker config already holds an auths entry for every registry
// host of the source (hosts, matched as the merge matches them), so that a
// recent edit that dropped one of them never hides it.
func lastChange(rotated time.Time, sec Secret, hosts []string) time.Time {
	if !sec.Changed.After(rotated) {
		return rotated
	}
	if ch, err := dockercfg.Diff(sec.Config, hosts); err == nil && len(ch.Added) == 0 {
		return sec.Changed
	}
	return rotated
}

// mergeWhere names a secret by its read once it was read (where the read
// found more of it: an id for a name), by its configuration before.
func mergeWhere(cfg, read Where) Where {
	if read.Store == "" {
		return cfg
	}
	return read
}

// sourceState is a source as an invocation uses it, shared by all of its
// secrets: its domains looked up once (here), its token minted once and
// proven once (mint.go).
type sourceState struct {
	spec SourceSpec
	src  Source

	domOnce sync.Once
	doms    []Domain
	domErr  error

	tokMu  sync.Mutex
	tok    *Token
	tokErr error

	loginOnce sync.Once
	login     string
	loginErr  error
}

// source is the invocation's state of a source, by everything that makes
// its tokens and proofs differ.
func (w *invocation) source(spec SourceSpec) *sourceState {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := spec.Type + "/" + spec.LoginCheck + "/" + spec.ProbeRepository + "/" + spec.Config.Key()
	s := w.sources[key]
	if s == nil {
		s = &sourceState{spec: spec, src: w.r.sources[spec.Type]}
		w.sources[key] = s
	}
	return s
}

// domains are the source's registry hosts, normalised and without
// duplicates, looked up once per invocation.
func (s *sourceState) domains(ctx context.Context, w *invocation) ([]Domain, error) {
	s.domOnce.Do(func() {
		// Stays if the lookup panics: the Once is spent either way, and an
		// empty list must not pass for a source's domains.
		s.domErr = errorf(UpdateFailed, "internal error looking up the registry domains of %s: nothing was written", s.spec.Config.Describe())
		var doms []Domain
		err := w.call(ctx, w.r.unpaced, "registry domains", func(ctx context.Context) (err error) {
			doms, err = s.src.Domains(ctx, w.creds, s.spec.Config)
			return err
		})
		seen := map[string]bool{}
		for _, d := range doms {
			if n := dockercfg.NormalizeHost(d.Host); n != "" && !seen[n] {
				seen[n] = true
				s.doms = append(s.doms, Domain{Host: n, Private: d.Private})
			}
		}
		switch {
		case err != nil:
			s.domErr = w.failure(err, CredentialSourceFailed)
		case len(s.doms) == 0:
			s.domErr = errorf(CredentialSourceFailed, "%s has no registry domain: set source.domains", s.spec.Config.Describe())
		default:
			s.domErr = nil
		}
	})
	return s.doms, s.domErr
}

// hosts are the domains' hosts, as the merge and the report take them.
func hosts(doms []Domain) []string {
	out := make([]string, len(doms))
	for i, d := range doms {
		out[i] = d.Host
	}
	return out
}

// secretRead is where one secret's reads come from: its group's read (an
// SAE namespace), or a read of the secret alone once a group read only
// resolved it (Resolved) or the store knows it already (Resolver).
type secretRead struct {
	w     *invocation
	st    *storeRT
	spec  SecretSpec
	ref   SecretRef // the ref the reads go by
	rd    *groupReader
	alone bool
	moves int
}

// maxMoves bounds how often a secret's name is resolved again because the
// secret it named answered to another name meanwhile.
const maxMoves = 2

// secretRead starts a secret's reads: alone where the store knows how
// (Resolver), else with its group.
func (w *invocation) secretRead(st *storeRT, spec SecretSpec) *secretRead {
	sr := &secretRead{w: w, st: st, spec: spec}
	sr.use(spec.Ref, false)
	if rs, ok := st.store.(port.Resolver); ok {
		if ref, ok := rs.ReadAlone(spec.Ref); ok {
			sr.use(ref, true)
		}
	}
	return sr
}

// use makes the reads go by ref, through its group's reader.
func (sr *secretRead) use(ref SecretRef, alone bool) {
	sr.ref, sr.alone, sr.rd = ref, alone, sr.w.reader(sr.st, sr.spec.Store, ref)
}

// read returns a read of the secret taken after notBefore and still fresh,
// with the secret found in it: a read that only resolved the secret is
// followed by a read of the secret alone, each one paced call.
func (sr *secretRead) read(ctx context.Context, notBefore time.Time) (*snapshot, Secret, error) {
	for {
		snap, err := sr.rd.read(ctx, notBefore)
		if err != nil {
			return nil, Secret{}, err
		}
		sec, err := sr.w.find(snap, sr.ref)
		var res *port.Resolved
		switch {
		case !sr.alone && errors.As(err, &res):
			sr.use(res.Ref, true)
		case sr.alone && errors.Is(err, port.ErrMoved):
			if sr.moves++; sr.moves > maxMoves {
				return snap, sec, errorf(SecretNotFound, "%s: %v, %d times in a row", sr.spec.Ref.Describe(), err, sr.moves)
			}
			// The group read that resolves it again must be newer than the
			// read that showed the move.
			sr.use(sr.spec.Ref, false)
			if !notBefore.After(snap.at) {
				notBefore = snap.at.Add(time.Nanosecond)
			}
		default:
			return snap, sec, err
		}
	}
}

// reader is the invocation's reader of ref's group in a store.
func (w *invocation) reader(st *storeRT, store string, ref SecretRef) *groupReader {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := store + "/" + ref.Group()
	rd := w.readers[key]
	if rd == nil {
		rd = &groupReader{w: w, store: st, ref: ref}
		w.readers[key] = rd
	}
	return rd
}

// groupReader shares the reads of one group (an SAE namespace, or one
// secret) between the secrets of an invocation: a read serves every secret
// whose write goes out within the freshness window.
type groupReader struct {
	w     *invocation
	store *storeRT
	ref   SecretRef

	mu   sync.Mutex
	snap *snapshot
}

// snapshot is one read and when it was sent.
type snapshot struct {
	at   time.Time
	snap Snapshot
}

// read returns a snapshot taken after notBefore and still fresh, reading
// again when there is none.
func (g *groupReader) read(ctx context.Context, notBefore time.Time) (*snapshot, error) {
	return g.fetch(ctx, notBefore, func(fn func(context.Context) error) error { return g.w.call(ctx, g.store.lane, "read", fn) })
}

// fetch reads the group through call, unless a read taken after notBefore
// is still fresh.
func (g *groupReader) fetch(ctx context.Context, notBefore time.Time, call func(func(context.Context) error) error) (*snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.w
	// A read serves every write that goes out while it is fresh; a write that
	// finds it aged (write.go) asks for a newer one.
	if s := g.snap; s != nil && s.at.After(notBefore) && w.r.clock.Now().Sub(s.at) < w.r.cfg.Freshness.Duration {
		return s, nil
	}
	var snap Snapshot
	at := w.r.clock.Now()
	err := call(func(ctx context.Context) (err error) {
		at = w.r.clock.Now()
		snap, err = g.store.store.Read(ctx, w.creds, g.ref)
		return err
	})
	if err != nil {
		return nil, w.failure(err, UpdateFailed)
	}
	g.snap = &snapshot{at: at, snap: snap}
	return g.snap, nil
}

// find picks a secret out of a read and registers its contents with the
// redactor before anything could quote them.
func (w *invocation) find(s *snapshot, ref SecretRef) (Secret, error) {
	sec, err := s.snap.Find(ref)
	w.learn(sec)
	return sec, err
}
