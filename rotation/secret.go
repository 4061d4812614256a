package rotation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/dockercfg"
)

// invocation is the state of one Run: the reads and the tokens it shares
// between its secrets.
type invocation struct {
	r      *Rotator
	req    Request
	creds  Credentials
	log    *zap.Logger
	redact *redactor

	start time.Time // when Run began: an emergency run's throttling counts from it
	retry bool      // FC retrying an invocation that ended in error

	mu      sync.Mutex
	readers map[string]*groupReader // by store and group
	sources map[string]*sourceState // by source key
	own     map[string]*ownWrites   // by secret key: this invocation's writes (reader.go)
}

// rotate runs one secret's rotation and never panics into its siblings.
func (w *invocation) rotate(ctx context.Context, it item) (res Result) {
	res = Result{Target: it.target.Name, Where: it.spec.Ref.Where()}
	log := w.log.With(zap.String("target", it.target.Name))
	start := w.r.clock.Now()
	defer func() {
		if p := recover(); p != nil {
			// A panic value could hold anything: report its type only.
			res.Status, res.Error = StatusFailed, &ResultError{Code: UpdateFailed, Message: fmt.Sprintf("internal error (%T)", p)}
			log.Error("secret failed: internal error", append(whereFields(res.Where), zap.String("panicType", fmt.Sprintf("%T", p)))...)
		}
	}()
	err := w.rotateSecret(ctx, it, &res)
	fields := append(whereFields(res.Where), zap.Duration("took", w.r.clock.Now().Sub(start)))
	if err != nil {
		e := asError(err, UpdateFailed)
		res.Status = StatusFailed
		res.Error = &ResultError{Code: e.Code, Message: w.redact.clean(e.Message)}
		log.Error("secret failed", append(fields, zap.String("code", string(e.Code)), zap.String("error", res.Error.Message))...)
		return res
	}
	fields = append(fields, zap.String("status", res.Status), zap.Strings("registries", res.Registries))
	if res.Reason != "" {
		fields = append(fields, zap.String("reason", res.Reason))
	}
	if res.Login != "" {
		fields = append(fields, zap.String("login", res.Login))
	}
	if res.VersionID != "" {
		fields = append(fields, zap.String("versionId", res.VersionID))
	}
	if c := res.Changes; c != nil {
		fields = append(fields, zap.Strings("added", c.Added), zap.Strings("replaced", c.Replaced), zap.Int("keptEntries", c.KeptEntries),
			zap.Int("keptKeys", c.KeptKeys), zap.Int("keptDataKeys", c.KeptDataKeys))
	}
	if res.RelateApps != nil { // stores that know a secret's consumers say so, even when there are none
		fields = append(fields, zap.Any("relateApps", res.RelateApps))
	}
	if res.ExpiresAt != nil {
		fields = append(fields, zap.Time("expiresAt", *res.ExpiresAt))
	}
	log.Info("secret "+res.Status, fields...)
	return res
}

// whereFields are a secret's log fields: store, region and secretName at
// the top level of every line about it.
func whereFields(wh Where) []zap.Field {
	f := []zap.Field{zap.String("store", wh.Store), zap.String("region", wh.Region)}
	if wh.NamespaceID != "" {
		f = append(f, zap.String("namespaceId", wh.NamespaceID))
	}
	if wh.SecretID != 0 {
		f = append(f, zap.Int64("secretId", wh.SecretID))
	}
	if wh.SecretName != "" {
		f = append(f, zap.String("secretName", wh.SecretName))
	}
	return f
}

// perSecretFloor is the time a secret needs besides its API calls
// (verification retries of lagging reads, scheduling).
const perSecretFloor = time.Second

// fits reports whether `calls` more calls on a lane can finish before the deadline.
func (w *invocation) fits(ctx context.Context, ln *lane, calls int) bool {
	dl, ok := ctx.Deadline()
	if !ok {
		return true
	}
	need := ln.pacer.delay(calls) + time.Duration(calls)*ln.latency.get() + perSecretFloor
	return w.r.clock.Now().Add(need).Before(dl)
}

var errStale = errors.New("the read is older than the freshness window")

// maxStaleReads bounds how often one write is fed a newer read because the
// last one aged while it waited; the deadline bounds it too.
const maxStaleReads = 10

func (w *invocation) rotateSecret(ctx context.Context, it item, res *Result) error {
	st := w.r.stores[it.spec.Store]
	if !w.fits(ctx, st.lane, 3) {
		return errorf(DeadlineExceeded, "not started: it could not finish before the invocation's deadline")
	}
	// This instance's memory of a rotation is per source: another target's
	// rotation of the same secret wrote other hosts, and hides none of these.
	bySource := "|" + it.target.Source.Type + "/" + it.target.Source.Config.Key()
	refKey := it.spec.Store + "/" + it.spec.Ref.Key()
	if w.coolingDown(refKey+bySource, refKey, Secret{}, nil, res) {
		return nil
	}
	src := w.source(it.target.Source)
	doms, err := src.domains(ctx, w)
	if err != nil {
		return err
	}
	reader := w.secretRead(st, it.spec)

	// Resolve the secret first (by name it needs a read), then hold its lock.
	snap, sec, err := reader.read(ctx, time.Time{})
	res.Where = mergeWhere(res.Where, sec.Where)
	if err != nil {
		return err
	}
	key := it.spec.Store + "/" + sec.ID
	unlock, err := w.r.locks.lock(ctx, key)
	if err != nil {
		return errorf(DeadlineExceeded, "not started: waited for another invocation rotating the same secret until the deadline")
	}
	landed, rotated := false, false
	defer func() {
		// Reads from before this point must not feed the next merge of this
		// secret in this instance: they may miss the write, or lag behind it.
		if landed {
			w.r.wrote(key, w.r.clock.Now())
			// Only a result whose write may have landed names registries: a
			// failure before it wrote nothing.
			res.Registries = hosts(doms)
		}
		// The cooldown starts only for a write the store took and showed: a
		// refused write, or one without an answer, is tried again.
		if rotated {
			w.r.rotated(w.r.clock.Now(), key+bySource, refKey+bySource)
		}
		unlock()
	}()
	if w.coolingDown(key+bySource, key, sec, hosts(doms), res) {
		return nil // it cost its read: no mint, no login, no write
	}
	if w.req.DryRun {
		// What the write would do, computed by the merge's own reading.
		ch, err := dockercfg.Diff(sec.Config, hosts(doms))
		if errors.Is(err, dockercfg.ErrCorrupt) {
			return corrupt(sec, err)
		} else if err != nil {
			return errorf(UpdateFailed, "cannot plan the docker config: %v", err)
		}
		res.Status, res.RelateApps, res.Login, res.Registries = StatusPlanned, appsOf(sec), LoginSkipped, hosts(doms)
		res.Changes = &Changes{Added: ch.Added, Replaced: ch.Replaced, KeptEntries: ch.KeptEntries, KeptKeys: ch.KeptKeys, KeptDataKeys: len(sec.Rest)}
		return nil
	}

	tok, err := src.token(ctx, w)
	if err != nil {
		return err
	}
	if res.Login, err = src.prove(ctx, w, tok, doms); err != nil {
		return err
	}
	w.markExpiry(res, tok)

	var written Secret
	var version string
	var th throttling // across the re-reads of a write that throttling kept waiting
	notBefore := w.r.lastWrite(key)
	for attempt := 0; ; attempt++ {
		if snap, sec, err = w.readOwn(ctx, reader, key, notBefore); err != nil {
			return err
		}
		// A read that will have aged past the window by the time the pacer
		// lets the write out and it reaches the store feeds no write: read
		// again before spending a slot on it.
		maxPause, _ := w.throttlePolicy()
		if attempt < maxStaleReads && w.r.clock.Now().Add(nextWait(st.lane, maxPause)+st.lane.latency.get()).Sub(snap.at) > w.r.cfg.Freshness.Duration {
			notBefore = snap.at.Add(time.Nanosecond)
			continue
		}
		merged, err := dockercfg.MergeJSON(sec.Config, hosts(doms), dockercfg.Credential{Username: tok.Username, Password: tok.Password})
		if err != nil {
			// MergeJSON decodes the config: its ErrCorrupt is the secret's corruption.
			if errors.Is(err, dockercfg.ErrCorrupt) {
				return corrupt(sec, err)
			}
			return errorf(UpdateFailed, "cannot build the docker config: %v", err)
		}
		w.sensitive(Secret{Config: merged})
		if sl, ok := st.store.(SizeLimiter); ok {
			if err := sl.CheckSize(sec, merged); err != nil {
				return asError(err, ValueTooLarge)
			}
		}
		if wf, ok := st.store.(interface{ WireForms(Secret, []byte) []string }); ok {
			// The write as the store sends it, which a server may quote back.
			w.redact.add(wf.WireForms(sec, merged)...)
		}
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
				landed = true
				w.wroteOwn(key, sec.Config, merged, hosts(doms), tok)
			}
			return err
		})
		if errors.Is(err, errStale) {
			if attempt >= maxStaleReads {
				return errorf(UpdateFailed, "not written: %d reads in a row aged past the freshness window (%v) before the quota let the write out; raise freshness",
					attempt+1, w.r.cfg.Freshness.Duration)
			}
			w.log.Debug("the write's read aged while it waited for the quota; its slot carried a newer read")
			notBefore = snap.at.Add(time.Nanosecond)
			continue
		}
		if err != nil {
			return w.failure(err, UpdateFailed)
		}
		written = sec
		written.Config = merged
		break
	}
	res.VersionID = version
	got, err := w.verify(ctx, st, written, version)
	if err != nil {
		return err
	}
	res.Status, res.RelateApps = StatusRotated, appsOf(got)
	rotated = true
	return nil
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
	if wrote := w.r.lastWrite(secretKey); !wrote.IsZero() && w.r.clock.Now().Sub(wrote) < cd {
		sec.Changed = time.Time{}
	}
	last := lastChange(w.r.lastRotation(memKey), sec, hosts)
	if age := w.r.clock.Now().Sub(last); last.IsZero() || age >= cd || age <= -cd {
		return false
	}
	res.Status, res.Reason, res.Registries = StatusSkipped, ReasonCooldown, nil
	return true
}

func mergeWhere(cfg, read Where) Where {
	if read.Store == "" {
		return cfg
	}
	return read
}

// corrupt words a decoding failure; dockercfg's errors name no data.
func corrupt(sec Secret, err error) error {
	return errorf(CorruptSecretData, "the docker config of %s does not decode: %v", describe(sec.Where), err)
}

func describe(wh Where) string {
	switch {
	case wh.SecretID != 0:
		return fmt.Sprintf("%s secret %d in namespace %s", wh.Store, wh.SecretID, wh.NamespaceID)
	case wh.NamespaceID != "":
		return fmt.Sprintf("%s secret %q in namespace %s", wh.Store, wh.SecretName, wh.NamespaceID)
	default:
		return fmt.Sprintf("%s secret %q in %s", wh.Store, wh.SecretName, wh.Region)
	}
}

// verifyDelays space the re-reads of a secret whose read lags its write.
var verifyDelays = []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

// verify reads the secret back until it holds what was written.
func (w *invocation) verify(ctx context.Context, st *storeRT, want Secret, version string) (Secret, error) {
	var mismatch string
	for i, d := range verifyDelays {
		if d > 0 {
			if err := sleep(ctx, w.r.clock, d); err != nil {
				return Secret{}, errorf(DeadlineExceeded, "written, but the deadline came before the read-back confirmed it (%s)", mismatch)
			}
		}
		var got Secret
		err := w.call(ctx, st.lane, "read back", func(ctx context.Context) (err error) {
			got, err = st.store.ReadBack(ctx, w.creds, want, version)
			return err
		})
		if err != nil {
			if CodeOf(err) == DeadlineExceeded {
				return Secret{}, errorf(DeadlineExceeded, "written, but the deadline came before the read-back confirmed it")
			}
			return Secret{}, w.failure(err, VerificationFailed)
		}
		w.sensitive(got)
		if mismatch = differs(got, want, version); mismatch == "" {
			if i > 0 {
				w.log.Debug("verification needed re-reads", append(whereFields(want.Where), zap.Int("reads", i+1))...)
			}
			return got, nil
		}
	}
	return Secret{}, errorf(VerificationFailed, "the store does not show the write after %d reads: %s", len(verifyDelays), mismatch)
}

// differs says how got differs from want, or "" when it holds all of it.
func differs(got, want Secret, version string) string {
	if version != "" && got.Version != "" && got.Version != version {
		return fmt.Sprintf("the current version is %q, not the one written (%q)", got.Version, version)
	}
	if eq, err := dockercfg.EquivalentJSON(got.Config, want.Config); err != nil || !eq {
		return "the docker config differs from what was written"
	}
	for k, v := range want.Rest {
		if g, ok := got.Rest[k]; !ok {
			return fmt.Sprintf("key %q is missing", k)
		} else if g != v {
			return fmt.Sprintf("key %q differs from what was written", k)
		}
	}
	return ""
}

// markExpiry flags a token that will not outlive the next scheduled run.
func (w *invocation) markExpiry(res *Result, tok Token) {
	if tok.ExpiresAt.IsZero() {
		return
	}
	// Whole seconds, as the report writes times; rounding down errs on the safe side.
	at := tok.ExpiresAt.UTC().Truncate(time.Second)
	res.ExpiresAt = &at
	sched := w.r.cfg.Schedule
	if sched.Interval.Duration <= 0 {
		return
	}
	if next := w.r.clock.Now().Add(sched.Interval.Duration + sched.Margin.Duration); at.Before(next) {
		res.ExpiresBeforeNextRun = true
		w.log.Warn("the token expires before the next scheduled run plus the margin", append(whereFields(res.Where),
			zap.Time("expiresAt", at), zap.Duration("interval", sched.Interval.Duration), zap.Duration("margin", sched.Margin.Duration))...)
	}
}

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
