package rotation

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
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
	defer unlock()

	if w.req.DryRun {
		if err := checkSecret(sec); err != nil {
			return err
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
		if err := checkSecret(sec); err != nil {
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
			if errors.Is(err, dockercfg.ErrCorrupt) {
				return errorf(CorruptSecretData, "%s does not decode: %v", DockerConfigKey, err)
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
		w.r.wrote(key, w.r.now())
		break
	}

	got, err := w.verify(ctx, it.ref.Region(), sec, written)
	if err != nil {
		return err
	}
	res.Status, res.RelateApps = StatusRotated, appsOf(got)
	return nil
}

func checkSecret(sec Secret) error {
	if sec.Type != DockerConfigType {
		return errorf(UnsupportedSecretType, "secret %d has type %q; only %q secrets are rotated", sec.ID, sec.Type, DockerConfigType)
	}
	if _, err := dockercfg.Decode(sec.Data[DockerConfigKey]); err != nil {
		return errorf(CorruptSecretData, "%s of secret %d does not decode: %v", DockerConfigKey, sec.ID, err)
	}
	return nil
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
	at := tok.ExpiresAt.UTC()
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

// sourceState mints a source's token once per invocation, shared by all of
// its secrets, and resolves its domains once.
type sourceState struct {
	src Source
	ts  TokenSource

	domOnce sync.Once
	doms    []string
	domErr  error

	tokMu  sync.Mutex
	tok    *Token
	tokErr error
}

func (w *invocation) source(src Source) *sourceState {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := src.RegionID + "/" + src.InstanceID + "/" + strings.Join(src.Domains, ",")
	s := w.sources[key]
	if s == nil {
		s = &sourceState{src: src, ts: w.r.backend.TokenSource(w.creds, src)}
		w.sources[key] = s
	}
	return s
}

func (s *sourceState) domains(ctx context.Context, w *invocation) ([]string, error) {
	s.domOnce.Do(func() {
		if len(s.src.Domains) > 0 {
			s.doms = normalizeDomains(s.src.Domains)
			return
		}
		var doms []string
		err := w.callUnpaced(ctx, "ListInstanceEndpoint", func(ctx context.Context) (err error) {
			doms, err = s.ts.Domains(ctx)
			return err
		})
		switch {
		case err != nil:
			s.domErr = w.apiFailure(err, "ListInstanceEndpoint", CredentialSourceFailed)
		case len(doms) == 0:
			s.domErr = errorf(CredentialSourceFailed, "instance %s has no enabled Registry endpoint: set source.domains", s.src.InstanceID)
		default:
			s.doms = normalizeDomains(doms)
		}
	})
	return s.doms, s.domErr
}

func normalizeDomains(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range in {
		if n := dockercfg.NormalizeHost(d); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (s *sourceState) token(ctx context.Context, w *invocation) (Token, error) {
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if s.tok != nil {
		return *s.tok, nil
	}
	if s.tokErr != nil {
		return Token{}, s.tokErr
	}
	var tok Token
	err := w.callUnpaced(ctx, "GetAuthorizationToken", func(ctx context.Context) (err error) {
		tok, err = s.ts.Token(ctx)
		return err
	})
	if err == nil && (tok.Username == "" || tok.Password == "") {
		err = errorf(CredentialSourceFailed, "GetAuthorizationToken answered without a username or token")
	}
	if err != nil {
		// A failed mint is not retried by later secrets: the source already had its retries.
		s.tokErr = w.apiFailure(err, "GetAuthorizationToken", CredentialSourceFailed)
		return Token{}, s.tokErr
	}
	w.redact.add(tok.Password, base64.StdEncoding.EncodeToString([]byte(tok.Username+":"+tok.Password)))
	w.log.Info("token minted", zap.String("instanceId", s.src.InstanceID), zap.String("username", tok.Username),
		zap.Time("expiresAt", tok.ExpiresAt.UTC()))
	s.tok = &tok
	return tok, nil
}

// redactor removes known secret values from text bound for a report or log:
// a second line of defence behind messages built without them.
type redactor struct {
	mu     sync.Mutex
	values []string
}

func (r *redactor) add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if len(v) >= 8 {
			r.values = append(r.values, v)
		}
	}
}

func (r *redactor) clean(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}
