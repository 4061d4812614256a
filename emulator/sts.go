package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// STS, version 2015-04-01, RPC style: AssumeRole. RPC requests reach "/"
// like ACR EE's and are told apart by their Version. The credentials it
// issues become accepted signers until they expire.

const stsVersion = "2015-04-01"

// stsState is the roles that may be assumed and the sessions issued.
// Guarded by Server.mu.
type stsState struct {
	roles   map[string][]string // role ARN -> AccessKeyIds allowed to assume it (none: any)
	issued  []Credential
	assumed map[string]string // AccessKeyId of an issued session -> its role ARN (ram.go)
}

// AddRole registers (or replaces) a RAM role that AssumeRole can assume.
// allowed are the AccessKeyIds whose holders may assume it (the role's
// trust policy); none means any registered credential.
func (s *Server) AddRole(arn string, allowed ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sts.roles == nil {
		s.sts.roles = map[string][]string{}
	}
	s.sts.roles[arn] = append([]string{}, allowed...)
}

// AssumedCredentials returns every credential AssumeRole issued, in order,
// expired ones included: credentials, never to be printed.
func (s *Server) AssumedCredentials() []Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Credential(nil), s.sts.issued...)
}

var (
	stsRoleARN     = regexp.MustCompile(`^acs:ram::([0-9]+):role/([A-Za-z0-9][A-Za-z0-9._-]*)$`)
	stsSessionName = regexp.MustCompile(`^[A-Za-z0-9.@_-]{2,64}$`)
)

func (s *Server) serveSTS(q *apiRequest) {
	switch q.action {
	case "AssumeRole":
	case "":
		s.fail(q, errf(400, "MissingAction", "Action is mandatory for this request."))
		return
	default:
		s.fail(q, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
		return
	}
	arn, name := q.params.Get("RoleArn"), q.params.Get("RoleSessionName")
	switch {
	case arn == "":
		s.fail(q, errf(400, "MissingRoleArn", "RoleArn is mandatory for this action."))
		return
	case name == "":
		s.fail(q, errf(400, "MissingRoleSessionName", "RoleSessionName is mandatory for this action."))
		return
	case !stsSessionName.MatchString(name):
		s.fail(q, errf(400, "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed."))
		return
	}
	m := stsRoleARN.FindStringSubmatch(arn)
	if m == nil {
		s.fail(q, errf(400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed."))
		return
	}
	duration := 3600
	if v := q.params.Get("DurationSeconds"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d < 900 || d > 3600 {
			s.fail(q, errf(400, "InvalidParameter.DurationSeconds", "The Min/Max value of DurationSeconds is 15min/1hr."))
			return
		}
		duration = d
	}
	s.mu.Lock()
	allowed, known := s.sts.roles[arn]
	s.mu.Unlock()
	switch {
	case !known:
		s.fail(q, errf(404, "EntityNotExist.Role", "The role not exists: "+arn+"."))
		return
	case len(allowed) > 0 && !stsContains(allowed, q.call.AccessKeyID):
		s.fail(q, errf(403, "NoPermission", "You are not authorized to do this action. Resource: "+arn+" Action: sts:AssumeRole"))
		return
	}
	cred := Credential{
		AccessKeyID:     "STS." + stsRandom(18),
		AccessKeySecret: stsRandom(30),
		SecurityToken:   "CAIS" + stsRandom(150),
		Expires:         time.Now().Add(time.Duration(duration) * time.Second).Truncate(time.Second),
	}
	s.mu.Lock()
	s.creds[cred.AccessKeyID] = cred
	s.sts.issued = append(s.sts.issued, cred)
	if s.sts.assumed == nil {
		s.sts.assumed = map[string]string{}
	}
	s.sts.assumed[cred.AccessKeyID] = arn
	s.mu.Unlock()

	type user struct {
		Arn           string `json:"Arn"`
		AssumedRoleID string `json:"AssumedRoleId"`
	}
	type creds struct {
		AccessKeySecret string `json:"AccessKeySecret"`
		Expiration      string `json:"Expiration"`
		AccessKeyID     string `json:"AccessKeyId"`
		SecurityToken   string `json:"SecurityToken"`
	}
	s.okCR(q, struct {
		RequestID       string `json:"RequestId"`
		AssumedRoleUser user   `json:"AssumedRoleUser"`
		Credentials     creds  `json:"Credentials"`
	}{q.reqID,
		user{"acs:ram::" + m[1] + ":assumed-role/" + strings.ToLower(m[2]) + "/" + name, "3" + stsDigits(17) + ":" + name},
		creds{cred.AccessKeySecret, cred.Expires.UTC().Format("2006-01-02T15:04:05Z"), cred.AccessKeyID, cred.SecurityToken}})
}

func stsContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// stsRandom is n bytes of randomness, base64url-encoded.
func stsRandom(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func stsDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
