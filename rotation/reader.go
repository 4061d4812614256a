package rotation

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/dockercfg"
)

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

type snapshot struct {
	at   time.Time
	snap Snapshot
}

// read returns a snapshot taken after notBefore and still fresh, reading
// again when there is none.
func (g *groupReader) read(ctx context.Context, notBefore time.Time) (*snapshot, error) {
	return g.fetch(ctx, notBefore, func(fn func(context.Context) error) error { return g.w.call(ctx, g.store.lane, "read", fn) })
}

// readInSlot is read for a caller that already holds a pacer slot: one try,
// unpaced, so a slot taken for a write whose read aged carries the new read.
func (g *groupReader) readInSlot(ctx context.Context, notBefore time.Time) error {
	called := false
	_, err := g.fetch(ctx, notBefore, func(fn func(context.Context) error) error { called = true; return fn(ctx) })
	if !called {
		// Another write renewed the read meanwhile: this slot goes unused.
		g.w.log.Debug("pacer slot unused: the read was renewed by another write")
	}
	return err
}

func (g *groupReader) fetch(ctx context.Context, notBefore time.Time, call func(func(context.Context) error) error) (*snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.w
	// A read serves every write that goes out while it is fresh; a write that
	// finds it aged (see rotateSecret) asks for a newer one.
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
	w.sensitive(sec)
	return sec, err
}

// sensitive registers a secret's contents: its docker config in every form
// a request carries it, and whatever the store holds beside it.
func (w *invocation) sensitive(sec Secret) {
	if len(sec.Config) > 0 {
		w.redact.add(string(sec.Config), base64.StdEncoding.EncodeToString(sec.Config))
		w.redact.add(credentialsIn(sec.Config)...)
	}
	for _, v := range sec.Rest {
		w.redact.add(v)
	}
}

// ownWrites is what this invocation wrote to one secret, counting writes
// without an answer (they may have landed): a later read must show them, or
// a change made since, before anything is merged onto it. Only the goroutine
// holding the secret's lock touches it.
type ownWrites struct {
	logins []ownLogin
	last   []byte   // the docker config of the latest write
	before [][]byte // docker configs the secret held before one of the writes
}

type ownLogin struct {
	hosts []string
	cred  dockercfg.Credential
}

// wroteOwn records a write of merged onto a read of was.
func (w *invocation) wroteOwn(key string, was, merged []byte, hosts []string, tok Token) {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.own[key]
	if o == nil {
		o = &ownWrites{}
		w.own[key] = o
	}
	if bytes.Equal(o.last, merged) {
		return // the same write tried again
	}
	if o.last != nil {
		o.before = append(o.before, o.last)
	}
	o.before = append(o.before, was)
	o.last = merged
	o.logins = append(o.logins, ownLogin{hosts: hosts, cred: dockercfg.Credential{Username: tok.Username, Password: tok.Password}})
}

// lags reports whether a read of a secret shows it as it was before one of
// this invocation's writes: it lacks a login written and equals a config
// the secret held before. A read that lacks one but holds anything else
// shows a change made since, and is merged onto like any read.
func (w *invocation) lags(key string, sec Secret) bool {
	w.mu.Lock()
	o := w.own[key]
	w.mu.Unlock()
	if o == nil {
		return false
	}
	shows := true
	for _, l := range o.logins {
		again, err := dockercfg.MergeJSON(sec.Config, l.hosts, l.cred)
		if eq, err2 := dockercfg.EquivalentJSON(again, sec.Config); err != nil || err2 != nil || !eq {
			shows = false
			break
		}
	}
	if shows {
		return false
	}
	for _, b := range o.before {
		if eq, err := dockercfg.EquivalentJSON(sec.Config, b); err == nil && eq {
			return true
		}
	}
	return false
}

// readOwn reads a secret for its write. A read that lags behind this
// invocation's own write of it (a list or replica one update behind) is read
// again, spaced as verification is, and after about 4 s the secret fails
// VerificationFailed: merged onto, it would undo that write.
func (w *invocation) readOwn(ctx context.Context, sr *secretRead, key string, notBefore time.Time) (*snapshot, Secret, error) {
	var sec Secret
	for i, d := range verifyDelays {
		if d > 0 {
			if err := sleep(ctx, w.r.clock, d); err != nil {
				return nil, Secret{}, errorf(DeadlineExceeded, "not written: the deadline came while the store still showed %s without this invocation's own earlier write", describe(sec.Where))
			}
		}
		snap, got, err := sr.read(ctx, notBefore)
		if sec = got; err != nil || !w.lags(key, sec) {
			return snap, sec, err
		}
		w.log.Debug("the read lags behind this invocation's own write: reading again", append(whereFields(sec.Where), zap.Int("reads", i+1))...)
		notBefore = snap.at.Add(time.Nanosecond)
	}
	return nil, Secret{}, errorf(VerificationFailed, "not written: after %d reads the store still shows %s as it was before this invocation's own earlier write of it (a read that lags); merged onto, it would undo that write",
		len(verifyDelays), describe(sec.Where))
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

func (w *invocation) secretRead(st *storeRT, spec SecretSpec) *secretRead {
	sr := &secretRead{w: w, st: st, spec: spec}
	sr.use(spec.Ref, false)
	if rs, ok := st.store.(Resolver); ok {
		if ref, ok := rs.ReadAlone(spec.Ref); ok {
			sr.use(ref, true)
		}
	}
	return sr
}

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
		var res *Resolved
		switch {
		case !sr.alone && errors.As(err, &res):
			sr.use(res.Ref, true)
		case sr.alone && errors.Is(err, ErrMoved):
			if sr.moves++; sr.moves > maxMoves {
				return snap, sec, errorf(SecretNotFound, "%s: %v, %d times in a row", describe(sr.spec.Ref.Where()), err, sr.moves)
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

// readInSlot renews the read a write's slot carries (groupReader.readInSlot).
func (sr *secretRead) readInSlot(ctx context.Context, notBefore time.Time) error {
	return sr.rd.readInSlot(ctx, notBefore)
}
