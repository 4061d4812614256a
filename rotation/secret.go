package rotation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/dockercfg"
)

// DockerConfigType is the only secret type the rotator writes.
const DockerConfigType = "kubernetes.io/dockerconfigjson"

// DockerConfigKey is the SecretData key holding the encoded docker config.
const DockerConfigKey = ".dockerconfigjson"

// invocation is the state of one Run: clients built from its credentials,
// the namespace reads and the tokens it shares between its secrets.
type invocation struct {
	r      *Rotator
	req    Request
	creds  Credentials
	log    *zap.Logger
	redact *redactor

	mu      sync.Mutex
	stores  map[string]SecretStore  // by region
	readers map[string]*nsReader    // by namespace
	sources map[string]*sourceState // by instance and region
}

// rotate runs one secret's rotation and never panics into its siblings.
func (w *invocation) rotate(ctx context.Context, it item) (res Result) {
	res = Result{Target: it.target.Name, NamespaceID: it.ref.NamespaceID, SecretID: it.ref.SecretID, SecretName: it.ref.SecretName}
	log := w.log.With(refFields(it)...)
	start := w.r.now()
	defer func() {
		if p := recover(); p != nil {
			// A panic value could hold anything: report its type only.
			res.Status, res.Error = StatusFailed, &ResultError{Code: UpdateFailed, Message: fmt.Sprintf("internal error (%T)", p)}
			log.Error("secret failed: internal error", zap.String("panicType", fmt.Sprintf("%T", p)))
		}
	}()
	err := w.rotateSecret(ctx, it, &res, log)
	if err != nil {
		e := asError(err, UpdateFailed)
		res.Status = StatusFailed
		res.Error = &ResultError{Code: e.Code, Message: w.redact.clean(e.Message)}
		log.Error("secret failed", zap.String("code", string(e.Code)), zap.String("error", res.Error.Message),
			zap.Duration("took", w.r.now().Sub(start)))
		return res
	}
	fields := []zap.Field{zap.Int64("secretId", res.SecretID), zap.String("status", res.Status), zap.Strings("registries", res.Registries),
		zap.Any("relateApps", res.RelateApps), zap.Duration("took", w.r.now().Sub(start))}
	if res.ExpiresAt != nil {
		fields = append(fields, zap.Time("expiresAt", *res.ExpiresAt))
	}
	log.Info("secret "+res.Status, fields...)
	return res
}

// perSecretFloor is the time a secret needs besides its API calls
// (verification retries of lagging reads, scheduling).
const perSecretFloor = time.Second

// fits reports whether `calls` more SAE calls, paced, can finish before the deadline.
func (w *invocation) fits(ctx context.Context, calls int) bool {
	dl, ok := ctx.Deadline()
	if !ok {
		return true
	}
	need := w.r.pacer.Delay(calls) + time.Duration(calls)*w.r.latency.get() + perSecretFloor
	return w.r.now().Add(need).Before(dl)
}

var errStale = errors.New("the read is older than the freshness window")

// maxStaleReads bounds how often one write is fed a newer read because the
// last one aged while it waited; the deadline bounds it too.
const maxStaleReads = 10

func (w *invocation) rotateSecret(ctx context.Context, it item, res *Result, log *zap.Logger) error {
	if !w.fits(ctx, 3) {
		return errorf(DeadlineExceeded, "not started: it could not finish before the invocation's deadline")
	}
	src := w.source(it.target.Source)
	domains, err := src.domains(ctx, w)
	if err != nil {
		return err
	}
	res.Registries = domains
	reader := w.reader(it.ref)

	// Resolve the secret's id first (by name it needs a read), then hold its lock.
	snap, err := reader.read(ctx, time.Time{})
	if err != nil {
		return err
	}
	sec, err := snap.find(it.ref)
	if err != nil {
		return err
	}
	res.SecretID, res.SecretName = sec.ID, sec.Name
	key := secretKey(sec.NamespaceID, sec.ID)
	unlock, err := w.r.locks.lock(ctx, key)
	if err != nil {
		return errorf(DeadlineExceeded, "not started: waited for another invocation rotating the same secret until the deadline")
	}
	sent := false
	defer func() {
		// Reads from before this point must not feed the next merge of this
		// secret in this instance: they may miss the write, or lag behind it.
		if sent {
			w.r.wrote(key, w.r.now())
		}
		unlock()
	}()

	if w.req.DryRun {
		if err := checkType(sec); err != nil {
			return err
		}
		if _, err := dockercfg.Decode(sec.Data[DockerConfigKey]); err != nil {
			return corrupt(sec, err)
		}
		res.Status, res.RelateApps = StatusPlanned, appsOf(sec)
		return nil
	}

	tok, err := src.token(ctx, w)
	if err != nil {
		return err
	}
	w.markExpiry(res, tok, log)

	var written map[string]string
	notBefore := w.r.lastWrite(key)
	for attempt := 0; ; attempt++ {
		snap, err = reader.read(ctx, notBefore)
		if err != nil {
			return err
		}
		if sec, err = snap.find(it.ref); err != nil {
			return err
		}
		if err := checkType(sec); err != nil {
			return err
		}
		// A read that will have aged past the window by the time the pacer
		// lets the write out and it reaches SAE feeds no write: read again
		// before spending a slot on it.
		if attempt < maxStaleReads && w.r.now().Add(w.r.pacer.Delay(1)+w.r.latency.get()).Sub(snap.at) > w.r.cfg.Freshness.Duration {
			notBefore = snap.at.Add(time.Nanosecond)
			continue
		}
		merged, err := dockercfg.Merge(sec.Data[DockerConfigKey], domains, dockercfg.Credential{Username: tok.Username, Password: tok.Password})
		if err != nil {
			// Merge decodes the data: its ErrCorrupt is the secret's corruption.
			if errors.Is(err, dockercfg.ErrCorrupt) {
				return corrupt(sec, err)
			}
			return errorf(UpdateFailed, "cannot build the docker config: %v", err)
		}
		w.redact.add(merged)
		data := maps.Clone(sec.Data)
		data[DockerConfigKey] = merged
		store := w.store(it.ref.Region())
		err = w.call(ctx, "UpdateSecret", func(ctx context.Context) error {
			// Checked after the pacer admitted the call: the wait may have aged
			// the read. The slot is spent either way: let it carry a newer read.
			if w.r.now().Sub(snap.at) > w.r.cfg.Freshness.Duration {
				if err := reader.readInSlot(ctx, snap.at); err != nil {
					log.Debug("the read carried by a stale write's slot failed; reading again", zap.String("code", string(CodeOf(err))))
				}
				return errStale
			}
			if !w.fits(ctx, 2) {
				return errorf(DeadlineExceeded, "not written: the write and its verification could not finish before the invocation's deadline")
			}
			// Also after an error: a write without an answer may have landed.
			sent = true
			return store.UpdateSecret(ctx, sec.NamespaceID, sec.ID, data)
		})
		if errors.Is(err, errStale) {
			if attempt >= maxStaleReads {
				return errorf(UpdateFailed, "not written: %d reads in a row aged past the freshness window (%v) before the quota let the write out; raise freshness",
					attempt+1, w.r.cfg.Freshness.Duration)
			}
			log.Debug("the write's read aged while it waited for the quota; its slot carried a newer read")
			notBefore = snap.at.Add(time.Nanosecond)
			continue
		}
		if err != nil {
			return w.apiFailure(err, "UpdateSecret", UpdateFailed)
		}
		written = data
		break
	}

	got, err := w.verify(ctx, it.ref.Region(), sec, written)
	if err != nil {
		return err
	}
	res.Status, res.RelateApps = StatusRotated, appsOf(got)
	return nil
}

func checkType(sec Secret) error {
	if sec.Type != DockerConfigType {
		return errorf(UnsupportedSecretType, "secret %d has type %q; only %q secrets are rotated", sec.ID, sec.Type, DockerConfigType)
	}
	return nil
}

// corrupt words a decoding failure; dockercfg's errors name no data.
func corrupt(sec Secret, err error) error {
	return errorf(CorruptSecretData, "%s of secret %d does not decode: %v", DockerConfigKey, sec.ID, err)
}

// verifyDelays space the re-reads of a secret whose read lags its write.
var verifyDelays = []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

// verify reads the secret back until it holds what was written.
func (w *invocation) verify(ctx context.Context, region string, sec Secret, want map[string]string) (Secret, error) {
	store := w.store(region)
	var mismatch string
	for i, d := range verifyDelays {
		if d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return Secret{}, errorf(DeadlineExceeded, "written, but the deadline came before DescribeSecret confirmed it (%s)", mismatch)
			}
		}
		var got Secret
		err := w.call(ctx, "DescribeSecret", func(ctx context.Context) (err error) {
			got, err = store.DescribeSecret(ctx, sec.NamespaceID, sec.ID)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return Secret{}, errorf(DeadlineExceeded, "written, but the deadline came before DescribeSecret confirmed it")
			}
			return Secret{}, w.apiFailure(err, "DescribeSecret", VerificationFailed)
		}
		if mismatch = sameData(got.Data, want); mismatch == "" {
			if i > 0 {
				w.log.Debug("verification needed re-reads", zap.Int64("secretId", sec.ID), zap.Int("reads", i+1))
			}
			return got, nil
		}
	}
	return Secret{}, errorf(VerificationFailed, "DescribeSecret does not show the write after %d reads: %s", len(verifyDelays), mismatch)
}

// sameData says how got differs from want, or "" when it holds all of it.
func sameData(got, want map[string]string) string {
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			return fmt.Sprintf("key %q is missing", k)
		case k == DockerConfigKey:
			if eq, err := dockercfg.Equivalent(g, v); err != nil || !eq {
				return fmt.Sprintf("%s differs from what was written", DockerConfigKey)
			}
		case g != v:
			return fmt.Sprintf("key %q differs from what was written", k)
		}
	}
	return ""
}

// markExpiry flags a token that will not outlive the next scheduled run.
func (w *invocation) markExpiry(res *Result, tok Token, log *zap.Logger) {
	if tok.ExpiresAt.IsZero() {
		return
	}
	// Whole seconds, as the contract writes times; rounding down errs on the safe side.
	at := tok.ExpiresAt.UTC().Truncate(time.Second)
	res.ExpiresAt = &at
	sched := w.r.cfg.Schedule
	if sched.Interval.Duration <= 0 {
		return
	}
	if next := w.r.now().Add(sched.Interval.Duration + sched.Margin.Duration); at.Before(next) {
		res.ExpiresBeforeNextRun = true
		log.Warn("the token expires before the next scheduled run plus the margin",
			zap.Time("expiresAt", at), zap.Duration("interval", sched.Interval.Duration), zap.Duration("margin", sched.Margin.Duration))
	}
}

func (w *invocation) store(region string) SecretStore {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stores[region]
	if s == nil {
		s = w.r.backend.SecretStore(w.creds, region)
		w.stores[region] = s
	}
	return s
}

func (w *invocation) reader(ref SecretRef) *nsReader {
	w.mu.Lock()
	defer w.mu.Unlock()
	rd := w.readers[ref.NamespaceID]
	if rd == nil {
		rd = &nsReader{w: w, ns: ref.NamespaceID, region: ref.Region()}
		w.readers[ref.NamespaceID] = rd
	}
	return rd
}
