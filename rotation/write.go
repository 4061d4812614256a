package rotation

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// planWrite is a dry run's merge: what the write would do, computed by the
// merge's own reading, and nothing written.
func (w *invocation) planWrite(j *job, res *Result) error {
	ch, err := dockercfg.Diff(j.sec.Config, j.hosts)
	if errors.Is(err, dockercfg.ErrCorrupt) {
		return corrupt(j.sec, err)
	} else if err != nil {
		return errorf(UpdateFailed, "cannot plan the docker config: %v", err)
	}
	res.Status, res.RelateApps, res.Login, res.Registries = StatusPlanned, appsOf(j.sec), LoginSkipped, j.hosts
	res.Changes = &Changes{Added: ch.Added, Replaced: ch.Replaced, KeptEntries: ch.KeptEntries, KeptKeys: ch.KeptKeys, KeptDataKeys: len(j.sec.Rest)}
	return nil
}

// appsOf is the report's relateApps: a secret's consumers, by id.
func appsOf(s Secret) []App {
	if s.Consumers == nil {
		return nil
	}
	apps := make([]App, 0, len(s.Consumers))
	for _, c := range s.Consumers {
		apps = append(apps, App{AppID: c.ID, AppName: c.Name})
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].AppID < apps[j].AppID })
	return apps
}

var errStale = errors.New("the read is older than the freshness window")

// maxStaleReads bounds how often one write is fed a newer read because the
// last one aged while it waited; the deadline bounds it too.
const maxStaleReads = 10

// write merges the token onto a read of the secret and writes it. The
// fresh-read rule: the read that feeds the merge is at most freshness old
// when its write goes out, so a read that would age past it while the pacer
// holds the write is renewed first, and one found aged once the pacer lets
// the write out is renewed in the write's slot instead. A read that lags
// behind this invocation's own earlier write is read again (readOwn). It
// returns the secret as written.
func (w *invocation) write(ctx context.Context, j *job, tok Token, res *Result) (Secret, error) {
	st, reader, key := j.st, j.read, j.key
	var snap *snapshot
	var sec Secret
	var err error
	var th throttling // across the re-reads of a write that throttling kept waiting
	notBefore := w.r.lastWrite(key)
	for attempt := 0; ; attempt++ {
		if snap, sec, err = w.readOwn(ctx, reader, key, notBefore); err != nil {
			return Secret{}, err
		}
		// A read that will have aged past the window by the time the pacer
		// lets the write out and it reaches the store feeds no write: read
		// again before spending a slot on it.
		maxPause, _ := w.throttlePolicy()
		if attempt < maxStaleReads && w.r.clock.Now().Add(nextWait(st.lane, maxPause)+st.lane.latency.get()).Sub(snap.at) > w.r.cfg.Freshness.Duration {
			notBefore = snap.at.Add(time.Nanosecond)
			continue
		}
		merged, err := dockercfg.MergeJSON(sec.Config, j.hosts, dockercfg.Credential{Username: tok.Username, Password: tok.Password})
		if err != nil {
			// MergeJSON decodes the config: its ErrCorrupt is the secret's corruption.
			if errors.Is(err, dockercfg.ErrCorrupt) {
				return Secret{}, corrupt(sec, err)
			}
			return Secret{}, errorf(UpdateFailed, "cannot build the docker config: %v", err)
		}
		w.learn(Secret{Config: merged})
		if sl, ok := st.store.(port.SizeLimiter); ok {
			if err := sl.CheckSize(sec, merged); err != nil {
				return Secret{}, asError(err, ValueTooLarge)
			}
		}
		if wf, ok := st.store.(port.WireFormer); ok {
			// The write as the store sends it, which a server may quote back.
			w.learn(wf.WireForms(sec, merged))
		}
		var version string
		err = w.callThrottled(ctx, st.lane, "write", &th, func(ctx context.Context) (err error) {
			// Checked after the pacer admitted the call: the wait may have aged
			// the read. The slot is spent either way: let it carry a newer read.
			if w.r.clock.Now().Sub(snap.at) > w.r.cfg.Freshness.Duration {
				if err := reader.readInSlot(ctx, snap.at); err != nil {
					w.log.Debug("the read carried by a stale write's slot failed; reading again", zap.String("code", string(CodeOf(err))))
				}
				return errStale
			}
			if !w.fits(ctx, st.lane, 2) {
				return errorf(DeadlineExceeded, "not written: the write and its verification could not finish before the invocation's deadline")
			}
			version, err = st.store.Write(ctx, w.creds, sec, merged)
			if mayHaveLanded(err) {
				j.landed = true
				w.wroteOwn(key, sec.Config, merged, j.hosts, tok)
			}
			return err
		})
		if errors.Is(err, errStale) {
			if attempt >= maxStaleReads {
				return Secret{}, errorf(UpdateFailed, "not written: %d reads in a row aged past the freshness window (%v) before the quota let the write out; raise freshness",
					attempt+1, w.r.cfg.Freshness.Duration)
			}
			w.log.Debug("the write's read aged while it waited for the quota; its slot carried a newer read")
			notBefore = snap.at.Add(time.Nanosecond)
			continue
		}
		if err != nil {
			return Secret{}, w.failure(err, UpdateFailed)
		}
		res.VersionID = version
		sec.Config = merged
		return sec, nil
	}
}

// readInSlot renews the read a write's slot carries (groupReader.readInSlot).
func (sr *secretRead) readInSlot(ctx context.Context, notBefore time.Time) error {
	return sr.rd.readInSlot(ctx, notBefore)
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

// mayHaveLanded tells whether a write that ended with err may have been
// stored: all but a definite refusal (an answer below 500, or the adapter's
// own verdict). A write without an answer may have landed.
func mayHaveLanded(err error) bool {
	var ae APIError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ae):
		return ae.HTTPStatus() == 0 || ae.HTTPStatus() >= 500
	default:
		return CodeOf(err) == ""
	}
}

// corrupt words a decoding failure; dockercfg's errors name no data.
func corrupt(sec Secret, err error) error {
	return errorf(CorruptSecretData, "the docker config of %s does not decode: %v", sec.Where.Describe(), err)
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
				return nil, Secret{}, errorf(DeadlineExceeded, "not written: the deadline came while the store still showed %s without this invocation's own earlier write", sec.Where.Describe())
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
		len(verifyDelays), sec.Where.Describe())
}
