package emulator

import (
	"net/http"
	"strings"
	"time"
)

// ACR Personal Edition, product cr, version 2016-06-07, ROA style: GET
// /tokens answers a temporary login for the account's registry of the
// region (registry.<region>.aliyuncs.com). Its calls are recorded with
// Product "cr" and Action "GetAuthorizationToken", the RAM action it needs.

const (
	personalVersion    = "2016-06-07"
	personalTokensPath = "/tokens"
	// PersonalTokenTTL is how long a Personal Edition token lives, as an
	// Enterprise Edition one does by default.
	PersonalTokenTTL = time.Hour
)

// roa reports an ROA request: RPC requests all go to "/".
func (q *apiRequest) roa() bool { return q.r.URL.Path != "/" }

// roaAction names an ROA request's action by method and path.
func roaAction(r *http.Request) string {
	if r.URL.Path == personalTokensPath && r.Method == http.MethodGet {
		return "GetAuthorizationToken"
	}
	return saeAction(r)
}

// PersonalInstanceID is the Token.InstanceID of the Personal Edition
// tokens of a region.
func PersonalInstanceID(region string) string { return personalPrefix + region }

const personalPrefix = "personal:"

func (s *Server) servePersonal(q *apiRequest) {
	if q.action != "GetAuthorizationToken" || q.r.URL.Path != personalTokensPath {
		s.fail(q, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
		return
	}
	if v := q.r.Header.Get("x-acs-version"); v != personalVersion {
		s.fail(q, errf(400, "InvalidVersion", "Specified parameter Version is not valid."))
		return
	}
	s.mu.Lock()
	tok := s.mintLocked(PersonalInstanceID(s.personalRegion(q.r.Host)), q.call.AccessKeyID, PersonalTokenTTL)
	s.mu.Unlock()
	type data struct {
		AuthorizationToken string `json:"authorizationToken"`
		TempUserName       string `json:"tempUserName"`
		ExpireDate         int64  `json:"expireDate"`
	}
	s.okCR(q, struct {
		Data      data   `json:"data"`
		RequestID string `json:"requestId"`
	}{data{tok.Password, tok.Username, tok.ExpiresAt.UnixMilli()}, q.reqID})
}

// personalRegion reads the region from a cr.<region>.aliyuncs.com host;
// the emulator's own address names none, so the function's region stands in.
func (s *Server) personalRegion(host string) string {
	if h, ok := strings.CutPrefix(host, "cr."); ok {
		if r, ok := strings.CutSuffix(h, ".aliyuncs.com"); ok && r != "" {
			return r
		}
	}
	return s.opts.Region
}
