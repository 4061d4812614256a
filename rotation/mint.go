package rotation

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// mint gets the source's token for the secret, minted once per invocation
// and source, and proves it against the registry before anything is
// written with it.
func (w *invocation) mint(ctx context.Context, j *job, res *Result) (Token, error) {
	tok, err := j.src.token(ctx, w)
	if err != nil {
		return Token{}, err
	}
	if res.Login, err = j.src.prove(ctx, w, tok, j.doms); err != nil {
		return Token{}, err
	}
	w.markExpiry(res, tok)
	return tok, nil
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
	err := w.call(ctx, w.r.unpaced, "mint token", func(ctx context.Context) (err error) {
		tok, err = s.src.Mint(ctx, w.creds, s.spec.Config)
		// A mint may have assumed a role: its session is a secret from now
		// on, before anything words this call's error (a server's message can
		// quote the string to sign, and the session's token in it).
		w.learn(held(s.src))
		return err
	})
	if err == nil && (tok.Username == "" || tok.Password == "") {
		err = errorf(CredentialSourceFailed, "%s answered without a username or token", s.spec.Config.Describe())
	}
	if err != nil {
		// A failed mint is not retried by later secrets: the source already had its retries.
		s.tokErr = w.failure(err, CredentialSourceFailed)
		return Token{}, s.tokErr
	}
	w.learn(tok)
	w.log.Info("token minted", zap.String("source", s.spec.Config.Describe()), zap.String("username", tok.Username),
		zap.Time("expiresAt", tok.ExpiresAt.UTC()))
	s.tok = &tok
	return tok, nil
}

// prove logs in with the token to the source's registry, public domains
// first, once per token (with probeRepository, the proof is a pull of it):
// a refused credential is never written.
func (s *sourceState) prove(ctx context.Context, w *invocation, tok Token, doms []Domain) (string, error) {
	s.loginOnce.Do(func() {
		// Stays if the check panics: the Once is spent either way, and the
		// other secrets of the source must not write an unproven token.
		s.loginErr = errorf(UpdateFailed, "internal error in the registry login check of %s: the token is not proven, nothing was written", s.spec.Config.Describe())
		s.login, s.loginErr = s.proveOnce(ctx, w, tok, doms)
	})
	return s.login, s.loginErr
}

func (s *sourceState) proveOnce(ctx context.Context, w *invocation, tok Token, doms []Domain) (string, error) {
	if s.spec.LoginCheck == LoginOff || w.r.prover == nil {
		return LoginSkipped, nil
	}
	ordered := append([]Domain(nil), doms...)
	// Public domains first: a VPC domain answers only from inside its VPC.
	for i := range ordered {
		for j := i + 1; j < len(ordered); j++ {
			if ordered[i].Private && !ordered[j].Private {
				ordered[i], ordered[j] = ordered[j], ordered[i]
			}
		}
	}
	var reasons []string
	for _, d := range ordered {
		err := w.call(ctx, w.r.unpaced, "registry login", func(ctx context.Context) error {
			return w.r.prover.Login(ctx, d.Host, tok.Username, tok.Password, s.spec.ProbeRepository)
		})
		if err == nil {
			pulled := zap.Skip()
			if s.spec.ProbeRepository != "" {
				pulled = zap.String("pulled", s.spec.ProbeRepository)
			}
			w.log.Info("registry login succeeded with the new token", zap.String("source", s.spec.Config.Describe()), zap.String("registry", d.Host), pulled)
			return LoginOK, nil
		}
		if CodeOf(err) == DeadlineExceeded {
			return "", err
		}
		var rj port.Rejection
		if errors.As(err, &rj) && rj.Rejected() && s.spec.ProbeRepository != "" {
			return "", errorf(CredentialRejected, "the new token of %s cannot pull %s from %s: nothing was written (%s)",
				s.spec.Config.Describe(), s.spec.ProbeRepository, d.Host, w.redact.clean(err.Error()))
		}
		if errors.As(err, &rj) && rj.Rejected() {
			return "", errorf(CredentialRejected, "the registry %s refused the new token of %s: nothing was written (%s)",
				d.Host, s.spec.Config.Describe(), w.redact.clean(err.Error()))
		}
		reasons = append(reasons, w.redact.clean(err.Error()))
	}
	why := strings.Join(reasons, "; ")
	if s.spec.LoginCheck == LoginRequired {
		return "", errorf(CredentialSourceFailed, "loginCheck is required, but no registry domain of %s answered the login: %s", s.spec.Config.Describe(), why)
	}
	w.log.Warn("the login check could not be made: no registry domain answered; rotating anyway (loginCheck auto)",
		zap.String("source", s.spec.Config.Describe()), zap.String("reason", why))
	return LoginUnreachable, nil
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
