package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Huawei Cloud CSMS (Cloud Secret Management Service, API v1), as reached
// through the KMS endpoint: ShowSecretVersion and CreateSecretVersion,
// signed with Huawei's SDK-HMAC-SHA256 (huaweiauth.go) by a key registered
// with AddHuaweiCredential. Errors are the gateway's and CSMS's
// {"error_code","error_msg"} bodies. Faults (SetFault with "csms" or an
// action): Hang, Latency, Throttle (429 APIGW.0308), Fail (FailStatus,
// default 500), DropWrites (a CreateSecretVersion answered but not stored).

// csmsMaxValue is the largest secret_string or secret_binary, 32 KB
// (maxLength 32768 on CSMS's CreateSecretVersion page,
// https://support.huaweicloud.com/intl/en-us/api-dew/CreateSecretVersion.html).
const csmsMaxValue = 32768

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

const (
	csmsProduct = "csms"
	csmsKMSKey  = "0d0466b0-e727-4d9c-b35d-f84bb474a37f" // the default CMK id answered in metadata
)

// csmsState is CSMS's part of the Server, guarded by Server.mu.
type csmsState struct {
	creds    map[string]HuaweiCredential // by AK
	secrets  map[string]*csmsSecret      // by project + "/" + name
	received []string                    // every secret_string sent to CreateSecretVersion
}

type csmsSecret struct {
	versions []csmsVersion // oldest first; the last is `latest`
	next     int
}

type csmsVersion struct {
	id      string
	value   *string // secret_string
	binary  *string // secret_binary (base64)
	created int64   // ms
}

// AddHuaweiCredential registers (or replaces, by AK) a key accepted for CSMS.
func (s *Server) AddHuaweiCredential(c HuaweiCredential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.csms.creds == nil {
		s.csms.creds = map[string]HuaweiCredential{}
	}
	s.csms.creds[c.AK] = c
}

// CreateCSMSSecret stores a secret with one version "v1" holding value as
// its text (secret_string) or, with binary, as its binary value.
func (s *Server) CreateCSMSSecret(project, name, value string, binary bool) error {
	if project == "" || name == "" {
		return errors.New("emulator: CreateCSMSSecret: project and name are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.csms.secrets == nil {
		s.csms.secrets = map[string]*csmsSecret{}
	}
	key := project + "/" + name
	if s.csms.secrets[key] != nil {
		return fmt.Errorf("emulator: CreateCSMSSecret: secret %q already exists in project %s", name, project)
	}
	sec := &csmsSecret{}
	if binary {
		b := base64.StdEncoding.EncodeToString([]byte(value))
		sec.add(nil, &b)
	} else {
		sec.add(&value, nil)
	}
	s.csms.secrets[key] = sec
	return nil
}

// SetCSMSValue adds a text version to a secret, as an edit made outside the
// function would.
func (s *Server) SetCSMSValue(project, name, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.csms.secrets[project+"/"+name]
	if sec == nil {
		return fmt.Errorf("emulator: SetCSMSValue: no secret %q in project %s", name, project)
	}
	sec.add(&value, nil)
	return nil
}

// CSMSSecret returns a secret's latest text value and its version id.
func (s *Server) CSMSSecret(project, name string) (value, versionID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.csms.secrets[project+"/"+name]
	if sec == nil {
		return "", "", false
	}
	v := sec.versions[len(sec.versions)-1]
	if v.value != nil {
		value = *v.value
	}
	return value, v.id, true
}

// CSMSVersions is how many versions a secret has (0 when it does not exist).
func (s *Server) CSMSVersions(project, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.csms.secrets[project+"/"+name]; sec != nil {
		return len(sec.versions)
	}
	return 0
}

// CSMSSensitive lists what must never be printed: every value any version
// held or any CreateSecretVersion sent, and every registered SK and token.
func (s *Server) CSMSSensitive() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.csms.received...)
	for _, sec := range s.csms.secrets {
		for _, v := range sec.versions {
			if v.value != nil {
				out = append(out, *v.value)
			}
			if v.binary != nil {
				out = append(out, *v.binary)
			}
		}
	}
	for _, c := range s.csms.creds {
		out = append(out, c.SK)
		if c.SecurityToken != "" {
			out = append(out, c.SecurityToken)
		}
	}
	return out
}

// nextCreated is a new version's create_time: now in ms, but always after
// the latest version's, as SAE's UpdateTime (nextUpdateTime).
func (sec *csmsSecret) nextCreated() int64 {
	if len(sec.versions) == 0 {
		return nowMS()
	}
	return nextUpdateTime(sec.versions[len(sec.versions)-1].created)
}

func (sec *csmsSecret) add(value, binary *string) csmsVersion {
	created := sec.nextCreated()
	sec.next++
	v := csmsVersion{id: "v" + strconv.Itoa(sec.next), value: value, binary: binary, created: created}
	sec.versions = append(sec.versions, v)
	return v
}

// csmsRoute parses /v1/{project_id}/secrets/{secret_name}/versions[/{version_id}].
func csmsRoute(r *http.Request) (action, project, name, version string) {
	p := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	switch {
	case len(p) == 5 && p[1] == "secrets" && p[3] == "versions" && r.Method == http.MethodGet:
		return "ShowSecretVersion", p[0], p[2], p[4]
	case len(p) == 4 && p[1] == "secrets" && p[3] == "versions" && r.Method == http.MethodPost:
		return "CreateSecretVersion", p[0], p[2], ""
	}
	return "", "", "", ""
}

func (s *Server) serveCSMS(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	action, project, name, version := csmsRoute(r)
	q := &apiRequest{w: w, r: r, product: csmsProduct, action: action, body: body, reqID: randomHex(16)}
	params := url.Values{}
	if name != "" {
		params.Set("secret_name", name)
	}
	if version != "" {
		params.Set("version_id", version)
	}
	var in struct {
		SecretString *string `json:"secret_string"`
		SecretBinary *string `json:"secret_binary"`
	}
	bodyErr := json.Unmarshal(body, &in)
	if action == "CreateSecretVersion" && bodyErr == nil && in.SecretString != nil {
		// Like SAE's UpdateSecret query, the call log holds the written value.
		params.Set("secret_string", *in.SecretString)
	}
	q.call = &Call{Time: arrived, Product: csmsProduct, Action: action, Method: r.Method, Path: r.URL.Path, Query: params,
		AccessKeyID: huaweiAccessKey(r), SecurityToken: r.Header.Get("X-Security-Token")}
	s.mu.Lock()
	s.calls = append(s.calls, q.call)
	if in.SecretString != nil {
		s.csms.received = append(s.csms.received, *in.SecretString)
	}
	hang, latency := s.faultDelays(action, csmsProduct)
	s.mu.Unlock()

	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		s.logf("csms %s hung until the client went away or Close", action)
		panic(http.ErrAbortHandler)
	}
	if !s.sleepCtx(r.Context(), latency) {
		panic(http.ErrAbortHandler)
	}
	if action == "" {
		s.failCSMS(q, errf(http.StatusNotFound, "APIGW.0101", "The API does not exist or has not been published in the environment"))
		return
	}
	if e := s.consumeCSMSFault(action); e != nil {
		s.failCSMS(q, e)
		return
	}
	if e := s.authenticateHuawei(r, body, project); e != nil {
		s.failCSMS(q, e)
		return
	}
	if action == "CreateSecretVersion" && (bodyErr != nil || (in.SecretString == nil && in.SecretBinary == nil)) {
		s.failCSMS(q, errf(http.StatusBadRequest, "CSMS.0004", "The requested body format is wrong."))
		return
	}
	if action == "CreateSecretVersion" && (len(deref(in.SecretString)) > csmsMaxValue || len(deref(in.SecretBinary)) > csmsMaxValue) {
		// DEW's error code for an invalid parameter value.
		s.failCSMS(q, errf(http.StatusBadRequest, "CSMS.0002", "The value of parameter is invalid."))
		return
	}

	s.mu.Lock()
	sec := s.csms.secrets[project+"/"+name]
	if sec == nil {
		s.mu.Unlock()
		s.failCSMS(q, errf(http.StatusBadRequest, "CSMS.0005", "The resource does not exist."))
		return
	}
	var v csmsVersion
	found := true
	if action == "CreateSecretVersion" {
		if s.consumeDropWrite(action, csmsProduct) {
			v = csmsVersion{id: "v" + strconv.Itoa(sec.next+1), created: sec.nextCreated()} // answered, never stored
		} else {
			v = sec.add(in.SecretString, in.SecretBinary)
		}
	} else {
		v, found = sec.find(version)
	}
	stages := sec.stages(v.id)
	s.mu.Unlock()
	if !found {
		s.failCSMS(q, errf(http.StatusBadRequest, "CSMS.0005", "The resource does not exist."))
		return
	}
	meta := csmsMetadata{ID: v.id, CreateTime: v.created, KMSKeyID: csmsKMSKey, SecretName: name, VersionStages: stages}
	if action == "CreateSecretVersion" {
		s.okCSMS(q, struct {
			VersionMetadata csmsMetadata `json:"version_metadata"`
		}{meta})
		return
	}
	s.okCSMS(q, struct {
		Version csmsWireVersion `json:"version"`
	}{csmsWireVersion{VersionMetadata: meta, SecretString: v.value, SecretBinary: v.binary}})
}

type csmsMetadata struct {
	ID            string   `json:"id"`
	CreateTime    int64    `json:"create_time"`
	KMSKeyID      string   `json:"kms_key_id"`
	SecretName    string   `json:"secret_name"`
	VersionStages []string `json:"version_stages"`
}

type csmsWireVersion struct {
	VersionMetadata csmsMetadata `json:"version_metadata"`
	SecretString    *string      `json:"secret_string,omitempty"`
	SecretBinary    *string      `json:"secret_binary,omitempty"`
}

// find resolves a version id; "latest" is the newest.
func (sec *csmsSecret) find(id string) (csmsVersion, bool) {
	if id == "latest" {
		return sec.versions[len(sec.versions)-1], true
	}
	for _, v := range sec.versions {
		if v.id == id {
			return v, true
		}
	}
	return csmsVersion{}, false
}

// stages are a version's stages: the newest is SYSCURRENT, the one before
// SYSPREVIOUS.
func (sec *csmsSecret) stages(id string) []string {
	n := len(sec.versions)
	switch {
	case n > 0 && sec.versions[n-1].id == id:
		return []string{"SYSCURRENT"}
	case n > 1 && sec.versions[n-2].id == id:
		return []string{"SYSPREVIOUS"}
	}
	return []string{}
}

// consumeCSMSFault applies Throttle, then Fail, as the gateway and CSMS answer them.
func (s *Server) consumeCSMSFault(action string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	faults := s.matchingFaults(action, csmsProduct)
	for _, f := range faults {
		if f.Throttle > 0 {
			f.Throttle--
			return errf(http.StatusTooManyRequests, "APIGW.0308", "The throttling threshold has been reached: policy user over ratelimit")
		}
	}
	for _, f := range faults {
		if f.Fail > 0 {
			f.Fail--
			status := f.FailStatus
			if status == 0 {
				status = http.StatusInternalServerError
			}
			return errf(status, "CSMS.0001", "Internal service error.")
		}
	}
	return nil
}

func (s *Server) failCSMS(q *apiRequest, e *apiError) {
	s.writeCSMS(q, e.status, map[string]string{"error_code": e.code, "error_msg": e.message})
	s.finish(q, e.status, e.code)
}

func (s *Server) okCSMS(q *apiRequest, body any) {
	s.writeCSMS(q, http.StatusOK, s.edited(q, body))
	s.finish(q, http.StatusOK, "")
}

func (s *Server) writeCSMS(q *apiRequest, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = 500, []byte(`{"error_code":"CSMS.0001","error_msg":"emulator failed to encode its answer"}`)
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Request-Id", q.reqID)
	q.w.WriteHeader(status)
	_, _ = q.w.Write(b)
}
