package rotation

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"time"
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
	if s := g.snap; s != nil && s.at.After(notBefore) && w.r.now().Sub(s.at) < w.r.cfg.Freshness.Duration {
		return s, nil
	}
	var snap Snapshot
	at := w.r.now()
	err := call(func(ctx context.Context) (err error) {
		at = w.r.now()
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
