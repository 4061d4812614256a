package rotation

import (
	"context"
	"sync"
	"time"
)

// nsReader shares ListSecrets reads of one namespace between the secrets of
// an invocation: a read serves every secret whose write goes out within the
// freshness window.
type nsReader struct {
	w          *invocation
	ns, region string

	mu   sync.Mutex
	snap *snapshot
}

type snapshot struct {
	at      time.Time
	secrets []Secret
}

// read returns a snapshot taken after notBefore and still fresh, reading
// again when there is none.
func (n *nsReader) read(ctx context.Context, notBefore time.Time) (*snapshot, error) {
	return n.fetch(ctx, notBefore, func(fn func(context.Context) error) error { return n.w.call(ctx, "ListSecrets", fn) })
}

// readInSlot is read for a caller that already holds a pacer slot: one try,
// unpaced, so a slot taken for a write whose read aged carries the new read.
func (n *nsReader) readInSlot(ctx context.Context, notBefore time.Time) error {
	called := false
	_, err := n.fetch(ctx, notBefore, func(fn func(context.Context) error) error { called = true; return fn(ctx) })
	if !called {
		// Another write renewed the read meanwhile: this slot goes unused.
		n.w.log.Debug("pacer slot unused: the read was renewed by another write")
	}
	return err
}

func (n *nsReader) fetch(ctx context.Context, notBefore time.Time, call func(func(context.Context) error) error) (*snapshot, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.w
	// A read serves every write that goes out while it is fresh; a write that
	// finds it aged (see rotateSecret) asks for a newer one.
	if s := n.snap; s != nil && s.at.After(notBefore) && w.r.now().Sub(s.at) < w.r.cfg.Freshness.Duration {
		return s, nil
	}
	var secrets []Secret
	at := w.r.now()
	err := call(func(ctx context.Context) (err error) {
		at = w.r.now()
		secrets, err = w.store(n.region).ListSecrets(ctx, n.ns)
		return err
	})
	if err != nil {
		return nil, w.apiFailure(err, "ListSecrets", UpdateFailed)
	}
	for _, s := range secrets {
		w.redact.add(s.Data[DockerConfigKey])
	}
	n.snap = &snapshot{at: at, secrets: secrets}
	return n.snap, nil
}

func (s *snapshot) find(ref SecretRef) (Secret, error) {
	var found []Secret
	for _, sec := range s.secrets {
		if (ref.SecretID != 0 && sec.ID == ref.SecretID) || (ref.SecretName != "" && sec.Name == ref.SecretName) {
			found = append(found, sec)
		}
	}
	switch len(found) {
	case 1:
		sec := found[0]
		if sec.NamespaceID == "" {
			sec.NamespaceID = ref.NamespaceID
		}
		return sec, nil
	case 0:
		return Secret{}, errorf(SecretNotFound, "%s does not exist", describeRef(ref))
	default:
		return Secret{}, errorf(SecretNotFound, "%d secrets are named %q in namespace %s: give secretId instead", len(found), ref.SecretName, ref.NamespaceID)
	}
}
