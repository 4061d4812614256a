package rotation

import (
	"context"
	"sync"
	"time"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// instance is what one Rotator shares between every invocation it serves,
// concurrently, for the life of the process (an FC instance): the opened
// stores and sources with their lanes (pacers and latencies), the
// per-secret locks, and its memory of its writes and rotations.
type instance struct {
	clock   Clock
	stores  map[string]*storeRT // by store kind name
	sources map[string]Source   // by source kind name
	unpaced *lane               // sources and registries: outside every store's quota
	locks   keyedMutex

	mu sync.Mutex
	// lastWrites: secret key → when this instance last wrote it (or may have).
	lastWrites map[string]time.Time
	// rotations: secret key and source → when this instance last rotated it
	// for that source (written and verified): the cooldown's own memory.
	rotations map[string]time.Time
}

// storeRT is an opened store with its lane (pacer and latency).
type storeRT struct {
	store Store
	lane  *lane
}

func newInstance(clock Clock) instance {
	if clock == nil {
		clock = wallClock{}
	}
	return instance{clock: clock, stores: map[string]*storeRT{}, sources: map[string]Source{},
		lastWrites: map[string]time.Time{}, rotations: map[string]time.Time{}}
}

// open opens every store and source kind the configuration uses, each
// store with its lane under the quota it states.
func (in *instance) open(cfg *Config, getenv func(string) string) error {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	env := Env{Getenv: getenv, APITimeout: cfg.APITimeout.Duration, Quota: cfg.Quota.port()}
	in.unpaced = newLane("unpaced", port.Quota{}, cfg.ThrottleWait.Duration, in.clock)
	for _, t := range cfg.Targets {
		if _, ok := in.sources[t.Source.Type]; !ok {
			src, err := t.Source.kind.Open(env)
			if err != nil {
				return configError(err)
			}
			in.sources[t.Source.Type] = src
		}
		for _, s := range t.Secrets {
			if _, ok := in.stores[s.Store]; ok {
				continue
			}
			st, err := s.kind.Open(env)
			if err != nil {
				return configError(err)
			}
			in.stores[s.Store] = &storeRT{store: st, lane: newLane(s.Store, st.Quota(), cfg.ThrottleWait.Duration, in.clock)}
		}
	}
	return nil
}

func (in *instance) lastWrite(key string) time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.lastWrites[key]
}

func (in *instance) wrote(key string, at time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.lastWrites[key] = at
}

func (in *instance) lastRotation(key string) time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rotations[key]
}

func (in *instance) rotated(at time.Time, keys ...string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, k := range keys {
		in.rotations[k] = at
	}
}

// release records in this instance's memory what the rotation did, then
// unlocks the secret.
func (w *invocation) release(j *job, res *Result) {
	// Reads from before this point must not feed the next merge of this
	// secret in this instance: they may miss the write, or lag behind it.
	if j.landed {
		w.r.wrote(j.key, w.r.clock.Now())
		// Only a result whose write may have landed names registries: a
		// failure before it wrote nothing.
		res.Registries = j.hosts
	}
	// The cooldown starts only for a write the store took and showed: a
	// refused write, or one without an answer, is tried again.
	if j.rotated {
		w.r.rotated(w.r.clock.Now(), j.key+j.bySource, j.refKey+j.bySource)
	}
	j.unlock()
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
