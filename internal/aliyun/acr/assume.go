package acr

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sts"

	"github.com/sae-secret-rotator/rotator/internal/aliyun"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// EnvSTSEndpoint overrides STS's regional endpoint (sts.<region>.aliyuncs.com)
// for sources with an assumeRole.
const EnvSTSEndpoint = "ROTATOR_STS_ENDPOINT"

// Session lengths. A token minted with STS credentials lives no longer than
// they do, and ACR's tokens live an hour while an AssumeRole session lasts
// 3600 s: a session can never have a full token's lifetime left once it is
// used. So a session is reused only while at least reuseFor remains: within
// an invocation (and for five minutes after) the targets that share a role
// call AssumeRole once, and every token still lives 55 minutes or more.
const (
	sessionSeconds = 3600
	reuseFor       = 55 * time.Minute
)

var roleARN = regexp.MustCompile(`^acs:ram::[0-9]+:role/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// validRole checks an assumeRole value; "" (none) is valid.
func validRole(arn string) error {
	if arn != "" && !roleARN.MatchString(arn) {
		return fmt.Errorf("assumeRole: %q is not a RAM role ARN such as \"acs:ram::1234567890123456:role/acr-token-minter\"", arn)
	}
	return nil
}

// sessionName is STS's RoleSessionName for this function: its FC name, or
// "rotator" outside FC, kept to the characters STS allows ([A-Za-z0-9.@_-],
// 2 to 64 of them) so that the name shows in ActionTrail.
func sessionName(getenv func(string) string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".@_-", r):
			return r
		}
		return '-'
	}, getenv("FC_FUNCTION_NAME"))
	if len(name) > 64 {
		name = name[:64]
	}
	if len(name) < 2 {
		return "rotator"
	}
	return name
}

// roles assumes RAM roles for the sources and keeps the sessions, one per
// STS endpoint, role and calling AccessKeyId, for the whole process (the
// sources of both kinds share them). Safe for concurrent use.
type roles struct {
	b    *aliyun.Backend
	ep   aliyun.Endpoint
	name string // RoleSessionName

	mu       sync.Mutex
	sessions map[string]*session
}

// session is one assumed role's credentials. mu is held while AssumeRole
// is in flight, so concurrent mints wait for one call instead of each
// making their own.
type session struct {
	mu      sync.Mutex
	creds   port.Credentials
	expires time.Time
}

var (
	rolesMu  sync.Mutex
	allRoles = map[aliyun.Endpoint]*roles{}
)

// openRoles returns the process's role sessions for the STS endpoint that
// the environment names.
func openRoles(env port.Env) (*roles, error) {
	ep, err := aliyun.ParseEndpoint(EnvSTSEndpoint, env.Getenv(EnvSTSEndpoint))
	if err != nil {
		return nil, err
	}
	aliyun.FillEndpointMaps(sts.GetEndpointMap)
	rolesMu.Lock()
	defer rolesMu.Unlock()
	r := allRoles[ep]
	if r == nil {
		r = &roles{b: aliyun.Shared(env.APITimeout), ep: ep, name: sessionName(env.Getenv), sessions: map[string]*session{}}
		allRoles[ep] = r
	}
	return r, nil
}

// credentials are what a source mints with: the caller's own, or the
// session of role assumed with them.
func (r *roles) credentials(ctx context.Context, caller port.Credentials, role, region string) (port.Credentials, error) {
	if role == "" {
		return caller, nil
	}
	// Sessions are global: region only picks the STS endpoint of the first.
	key := role + "\x00" + caller.AccessKeyID
	r.mu.Lock()
	// In FC the caller's AccessKeyId changes as FC renews the function
	// role's session: forget sessions long expired, unused since.
	for k, old := range r.sessions {
		if !old.expires.IsZero() && time.Since(old.expires) > time.Hour {
			delete(r.sessions, k)
		}
	}
	s := r.sessions[key]
	if s == nil {
		s = &session{}
		r.sessions[key] = s
	}
	r.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.creds.AccessKeyID != "" && time.Until(s.expires) >= reuseFor {
		return s.creds, nil
	}
	creds, expires, err := r.assume(ctx, caller, role, region)
	if err != nil {
		return port.Credentials{}, err
	}
	// Kept even when unusable next time: Sensitive must still name it.
	r.mu.Lock()
	s.creds, s.expires = creds, expires
	r.mu.Unlock()
	return creds, nil
}

// assume calls STS AssumeRole with the caller's credentials.
func (r *roles) assume(ctx context.Context, caller port.Credentials, role, region string) (port.Credentials, time.Time, error) {
	c, err := sts.NewClientWithOptions(region, r.b.Config(), aliyun.Credential(caller))
	if err != nil {
		return port.Credentials{}, time.Time{}, fmt.Errorf("sts: cannot build a client for region %s", region)
	}
	r.b.Bind(ctx, c)
	req := sts.CreateAssumeRoleRequest()
	r.b.Point(req, &req.Port, r.ep, "sts", region, false)
	req.RoleArn = role
	req.RoleSessionName = r.name
	req.DurationSeconds = requests.NewInteger(sessionSeconds)
	resp := sts.CreateAssumeRoleResponse()
	if err := c.DoAction(req, resp); err != nil {
		err = r.b.Fail(ctx, "sts", "AssumeRole", err)
		if ce, ok := err.(*port.CallError); ok {
			// The role is no secret, and says which source's role failed.
			if ce.Detail == "" {
				ce.Detail = "assumeRole " + role
			} else {
				ce.Detail = "assumeRole " + role + ": " + ce.Detail
			}
		}
		return port.Credentials{}, time.Time{}, err
	}
	cr := resp.Credentials
	if cr.AccessKeyId == "" || cr.AccessKeySecret == "" || cr.SecurityToken == "" {
		return port.Credentials{}, time.Time{}, &port.CallError{Product: "sts", Action: "AssumeRole", Status: resp.GetHttpStatus(),
			Code: "InvalidResponse", Detail: "assumeRole " + role + ": the answer holds no credentials"}
	}
	// An unreadable Expiration leaves the zero time: the session serves this
	// mint only.
	expires, _ := time.Parse(time.RFC3339, cr.Expiration)
	return port.Credentials{AccessKeyID: cr.AccessKeyId, AccessKeySecret: cr.AccessKeySecret, SecurityToken: cr.SecurityToken}, expires, nil
}

// sensitive lists the secrets of every session assumed so far.
func (r *roles) sensitive() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.sessions {
		if s.creds.AccessKeySecret != "" {
			out = append(out, s.creds.AccessKeySecret, s.creds.SecurityToken)
		}
	}
	return out
}
