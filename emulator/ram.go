package emulator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/distribution/v3/registry/auth/token"
)

// The emulator's RAM, as far as the registry needs it: which identity may
// pull or push which repositories. A temporary ACR token carries the
// permissions of the identity that minted it (GetAuthorizationToken,
// https://www.alibabacloud.com/help/en/acr/developer-reference/api-cr-2018-12-01-getauthorizationtoken),
// so the token service grants a scope only when the minter holds the RAM
// action on the repository's ARN:
//
//	pull  cr:PullRepository
//	push  cr:PushRepository
//
// An Enterprise Edition repository is
// acs:cr:<region>:<account>:repository/<instanceId>/<namespace>/<name>
// (https://www.alibabacloud.com/help/en/doc-detail/144229.htm); the emulator
// names a Personal Edition repository acs:cr:<region>:<account>:repository/<namespace>/<name>.
// In a granted resource `*` matches any run of characters, '/' included,
// as RAM's wildcard does. Nothing is granted unless Grant says so.

// Registry actions a grant may name.
const (
	ActionPull = "cr:PullRepository"
	ActionPush = "cr:PushRepository"
)

// scopeActions maps a token scope's action to the RAM action it needs.
var scopeActions = map[string]string{"pull": ActionPull, "push": ActionPush}

// ramGrant is one action on a set of resources, for one identity.
type ramGrant struct {
	identity, action string
	resources        []string
}

// Grant lets identity do action (ActionPull or ActionPush) on the
// repositories the resources name, as a RAM policy statement attached to it
// would (acs:cr:<region>:<account>:repository/<instanceId>/<namespace>/<name>,
// `*` wildcards allowed, e.g. "acs:cr:*:*:repository/cri-abc/*").
// identity is the AccessKeyId that calls GetAuthorizationToken, or for the
// sessions AssumeRole issues, the role's ARN. Grants add up; none is ever
// taken back.
func (s *Server) Grant(identity, action string, resources ...string) error {
	if action != ActionPull && action != ActionPush {
		return fmt.Errorf("emulator: Grant: unknown action %q (%s or %s)", action, ActionPull, ActionPush)
	}
	if identity == "" || len(resources) == 0 {
		return fmt.Errorf("emulator: Grant: an identity and at least one resource are required")
	}
	for _, r := range resources {
		if !strings.HasPrefix(r, "acs:cr:") || strings.Count(r, ":") < 4 {
			return fmt.Errorf("emulator: Grant: %q is not an acs:cr: resource", r)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants = append(s.grants, ramGrant{identity: identity, action: action, resources: append([]string(nil), resources...)})
	return nil
}

// identityLocked is the RAM identity behind an AccessKeyId: the role of an
// AssumeRole session, else the key itself. Call with s.mu held.
func (s *Server) identityLocked(accessKeyID string) string {
	if role, ok := s.sts.assumed[accessKeyID]; ok {
		return role
	}
	return accessKeyID
}

// grantedLocked is the part of a requested scope that tok's minter may do.
// Call with s.mu held.
func (s *Server) grantedLocked(tok Token, sc token.ResourceActions) *token.ResourceActions {
	out := &token.ResourceActions{Type: sc.Type, Name: sc.Name}
	if sc.Type != "repository" || tok.AccessKeyID == "" {
		return out
	}
	arn := s.repositoryARNLocked(tok, sc.Name)
	who := s.identityLocked(tok.AccessKeyID)
	for _, a := range sc.Actions {
		need, known := scopeActions[a]
		if known && s.allowedLocked(who, need, arn) && !slices.Contains(out.Actions, a) {
			out.Actions = append(out.Actions, a)
		}
	}
	return out
}

func (s *Server) allowedLocked(identity, action, arn string) bool {
	for _, g := range s.grants {
		if g.identity != identity || g.action != action {
			continue
		}
		for _, r := range g.resources {
			if wildcardMatch(r, arn) {
				return true
			}
		}
	}
	return false
}

// repositoryARNLocked names the repository of tok's instance. Call with s.mu held.
func (s *Server) repositoryARNLocked(tok Token, repo string) string {
	prefix := "acs:cr:"
	if region, ok := strings.CutPrefix(tok.InstanceID, personalPrefix); ok {
		return prefix + region + ":" + s.opts.AccountID + ":repository/" + repo
	}
	return prefix + s.instances[tok.InstanceID].RegionID + ":" + s.opts.AccountID + ":repository/" + tok.InstanceID + "/" + repo
}

// wildcardMatch reports whether s matches pattern, where `*` matches any
// run of characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
