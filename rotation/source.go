package rotation

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/dockercfg"
)

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
