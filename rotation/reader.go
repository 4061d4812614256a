package rotation

import (
	"context"
	"encoding/base64"
	"sync"
	"time"
)

// groupReader shares the reads of one group (an SAE namespace; for other
// stores one secret) between the secrets of an invocation: a read serves
// every secret whose write goes out within the freshness window.
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
