package rotation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/dockercfg"
)

// sourceState mints a source's token once per invocation, shared by all of
// its secrets, resolves its domains once and proves the token once.
type sourceState struct {
	spec SourceSpec
	src  Source

	domOnce sync.Once
	doms    []Domain
	domErr  error

	tokMu  sync.Mutex
	tok    *Token
	tokErr error

	loginOnce sync.Once
	login     string
	loginErr  error
}

func (w *invocation) source(spec SourceSpec) *sourceState {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := spec.Type + "/" + spec.LoginCheck + "/" + spec.ProbeRepository + "/" + spec.Config.Key()
	s := w.sources[key]
	if s == nil {
		s = &sourceState{spec: spec, src: w.r.sources[spec.Type]}
		w.sources[key] = s
	}
	return s
}

func (s *sourceState) domains(ctx context.Context, w *invocation) ([]Domain, error) {
	s.domOnce.Do(func() {
		// Stays if the lookup panics: the Once is spent either way, and an
		// empty list must not pass for a source's domains.
		s.domErr = errorf(UpdateFailed, "internal error looking up the registry domains of %s: nothing was written", s.spec.Config.Describe())
		var doms []Domain
		err := w.call(ctx, w.r.unpaced, "registry domains", func(ctx context.Context) (err error) {
			doms, err = s.src.Domains(ctx, w.creds, s.spec.Config)
			return err
		})
		seen := map[string]bool{}
		for _, d := range doms {
			if n := dockercfg.NormalizeHost(d.Host); n != "" && !seen[n] {
				seen[n] = true
				s.doms = append(s.doms, Domain{Host: n, Private: d.Private})
			}
		}
		switch {
		case err != nil:
			s.domErr = w.failure(err, CredentialSourceFailed)
		case len(s.doms) == 0:
			s.domErr = errorf(CredentialSourceFailed, "%s has no registry domain: set source.domains", s.spec.Config.Describe())
		default:
			s.domErr = nil
		}
	})
	return s.doms, s.domErr
}

func hosts(doms []Domain) []string {
	out := make([]string, len(doms))
	for i, d := range doms {
		out[i] = d.Host
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
	err := w.call(ctx, w.r.unpaced, "mint token", func(ctx context.Context) (err error) {
		tok, err = s.src.Mint(ctx, w.creds, s.spec.Config)
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
	w.redact.add(tok.Password, tok.Username+":"+tok.Password)
	// A mint may have assumed a role: its session is a secret from now on.
	w.redact.add(sensitiveOf(s.src)...)
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
		var rj interface{ Rejected() bool }
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

// credentialsIn lists the secret values of a docker config's logins, so
// that a piece of any of them is recognised in a server's message.
func credentialsIn(doc []byte) []string {
	var cfg struct {
		Auths map[string]map[string]json.RawMessage `json:"auths"`
	}
	if json.Unmarshal(doc, &cfg) != nil {
		return nil
	}
	var out []string
	for _, e := range cfg.Auths {
		for _, k := range []string{"password", "auth", "identitytoken", "registrytoken"} {
			var v string
			if json.Unmarshal(e[k], &v) == nil && v != "" {
				out = append(out, v)
				if k == "auth" {
					if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
						out = append(out, string(dec))
					}
				}
			}
		}
	}
	return out
}
