package emulator

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// KMS Secrets Manager, product kms, version 2016-01-20, RPC style:
// GetSecretValue and PutSecretValue of generic secrets, with versions and
// the stages ACSCurrent and ACSPrevious. RPC requests all arrive at "/";
// the Version parameter tells KMS's apart from ACR's.

const (
	kmsVersion  = "2016-01-20"
	kmsCurrent  = "ACSCurrent"
	kmsPrevious = "ACSPrevious"
	// kmsMaxVersions is how many versions KMS keeps; older ones are deleted.
	kmsMaxVersions = 10
	// kmsMaxSecretData is the largest SecretData in bytes (30 KB: the
	// kms-20160120 CreateSecretRequest model of aliyun/alibabacloud-csharp-sdk).
	kmsMaxSecretData = 30720
)

// KMS's error answers, as its API reference lists them.
var (
	kmsThrottled = errf(429, "Rejected.Throttling", "QPS Limit Exceeded")
	kmsNotFound  = errf(404, "Forbidden.ResourceNotFound", "The resource is not found.")
)

// kmsFailure is KMS's 5xx answer for an injected Fail.
func kmsFailure(status int) *apiError {
	if status == 500 {
		return errf(status, "InternalFailure", "Internal Failure")
	}
	return errf(status, "ServiceUnavailableTemporary", "Service unavailable temporarily.")
}

// KMSVersion is one version of a KMS secret.
type KMSVersion struct {
	ID       string
	Data     string
	DataType string   // "text" | "binary"
	Stages   []string // ACSCurrent, ACSPrevious
	Created  time.Time
}

type kmsSecret struct {
	region, name string
	versions     []*KMSVersion // oldest first
}

func kmsKey(region, name string) string { return region + "/" + name }

// kmsState is the server's KMS state, made on first use.
func (s *Server) kmsState() map[string]*kmsSecret {
	if s.kms == nil {
		s.kms = map[string]*kmsSecret{}
	}
	return s.kms
}

// CreateKMSSecret stores a generic KMS secret with one version
// ("v1", staged ACSCurrent), replacing any secret of that name in the
// region. binary stores the value as SecretDataType "binary".
func (s *Server) CreateKMSSecret(region, name, value string, binary bool) {
	typ := "text"
	if binary {
		typ = "binary"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kmsState()[kmsKey(region, name)] = &kmsSecret{region: region, name: name, versions: []*KMSVersion{
		{ID: "v1", Data: value, DataType: typ, Stages: []string{kmsCurrent}, Created: time.Now()},
	}}
}

// KMSSecret returns the ACSCurrent version of a KMS secret: no faults, not
// recorded.
func (s *Server) KMSSecret(region, name string) (KMSVersion, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.kmsState()[kmsKey(region, name)]
	if sec == nil {
		return KMSVersion{}, false
	}
	if v := sec.stage(kmsCurrent); v != nil {
		return copyVersion(v), true
	}
	return KMSVersion{}, false
}

// KMSVersions returns every version of a KMS secret, oldest first.
func (s *Server) KMSVersions(region, name string) []KMSVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.kmsState()[kmsKey(region, name)]
	if sec == nil {
		return nil
	}
	out := make([]KMSVersion, 0, len(sec.versions))
	for _, v := range sec.versions {
		out = append(out, copyVersion(v))
	}
	return out
}

// KMSValues returns the value of every version of every KMS secret, for
// tests that must never see one printed.
func (s *Server) KMSValues() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sec := range s.kmsState() {
		for _, v := range sec.versions {
			out = append(out, v.Data)
		}
	}
	sort.Strings(out)
	return out
}

// SetKMSEcho makes KMS's error answers quote the request's SecretData in
// their message, as some services quote parameters back: tests use it to
// check that server messages are redacted.
func (s *Server) SetKMSEcho(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kmsEcho = on
}

func copyVersion(v *KMSVersion) KMSVersion {
	c := *v
	c.Stages = append([]string(nil), v.Stages...)
	return c
}

func (k *kmsSecret) stage(stage string) *KMSVersion {
	for _, v := range k.versions {
		for _, st := range v.Stages {
			if st == stage {
				return v
			}
		}
	}
	return nil
}

func (k *kmsSecret) version(id string) *KMSVersion {
	for _, v := range k.versions {
		if v.ID == id {
			return v
		}
	}
	return nil
}

func (s *Server) serveKMS(q *apiRequest) {
	var e *apiError
	switch q.action {
	case "GetSecretValue":
		e = s.getSecretValue(q)
	case "PutSecretValue":
		e = s.putSecretValue(q)
	case "":
		e = errf(400, "MissingAction", "Action is mandatory for this request.")
	default:
		e = errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	if e != nil {
		s.fail(q, e)
	}
}

// kmsEchoed quotes the request's SecretData in an error's message when
// SetKMSEcho is on.
func (s *Server) kmsEchoed(q *apiRequest, e *apiError) *apiError {
	s.mu.Lock()
	echo := s.kmsEcho
	s.mu.Unlock()
	if !echo || q.params.Get("SecretData") == "" {
		return e
	}
	return errf(e.status, e.code, e.message+" SecretData: "+q.params.Get("SecretData"))
}

func missing(param string) *apiError {
	return errf(400, "MissingParameter", "The input parameter \""+param+"\" that is mandatory for processing this request is not supplied.")
}

// getSecretValue answers a Generic secret's version. AutomaticRotation,
// ExtendedConfig and the rotation members are "returned only for ApsaraDB
// RDS secrets, PolarDB secrets, Redis/Tair secrets, RAM secrets, or ECS
// secrets" or once rotation is on (kms-20160120 GetSecretValueResponseBody
// doc text): a Generic secret's answer has none of them.
func (s *Server) getSecretValue(q *apiRequest) *apiError {
	name, region := q.params.Get("SecretName"), q.params.Get("RegionId")
	if name == "" {
		return missing("SecretName")
	}
	id, stage := q.params.Get("VersionId"), q.params.Get("VersionStage")
	s.mu.Lock()
	sec := s.kmsState()[kmsKey(region, name)]
	var v *KMSVersion
	switch {
	case sec == nil:
	case id != "":
		v = sec.version(id)
		if v != nil && stage != "" && !hasStage(v, stage) {
			v = nil
		}
	default:
		if stage == "" {
			stage = kmsCurrent
		}
		v = sec.stage(stage)
	}
	var out KMSVersion
	if v != nil {
		out = copyVersion(v)
	}
	s.mu.Unlock()
	if v == nil {
		return kmsNotFound
	}
	stages := out.Stages
	if stages == nil {
		stages = []string{}
	}
	s.okCR(q, struct {
		RequestID      string `json:"RequestId"`
		SecretName     string `json:"SecretName"`
		SecretType     string `json:"SecretType"`
		VersionID      string `json:"VersionId"`
		CreateTime     string `json:"CreateTime"`
		SecretData     string `json:"SecretData"`
		SecretDataType string `json:"SecretDataType"`
		VersionStages  struct {
			VersionStage []string `json:"VersionStage"`
		} `json:"VersionStages"`
	}{RequestID: q.reqID, SecretName: name, SecretType: "Generic", VersionID: out.ID,
		CreateTime: out.Created.UTC().Format(time.RFC3339), SecretData: out.Data, SecretDataType: out.DataType,
		VersionStages: struct {
			VersionStage []string `json:"VersionStage"`
		}{stages}})
	return nil
}

func hasStage(v *KMSVersion, stage string) bool {
	for _, st := range v.Stages {
		if st == stage {
			return true
		}
	}
	return false
}

// putSecretValue stores a new version. The new version takes ACSCurrent and
// the version that held it becomes ACSPrevious. A VersionId already used
// succeeds again only with the same value (KMS's idempotence); otherwise
// it is refused.
func (s *Server) putSecretValue(q *apiRequest) *apiError {
	name, region := q.params.Get("SecretName"), q.params.Get("RegionId")
	id, data := q.params.Get("VersionId"), q.params.Get("SecretData")
	typ := q.params.Get("SecretDataType")
	switch {
	case name == "":
		return missing("SecretName")
	case id == "":
		return missing("VersionId")
	case data == "":
		return missing("SecretData")
	case len(id) > 64:
		return errf(400, "InvalidParameter", "The specified parameter \"VersionId\" is not valid.")
	case len(data) > kmsMaxSecretData:
		// KMS's common error for a parameter out of range (common error codes page).
		return errf(400, "InvalidParameter", "The specified parameter \"SecretData\" is not valid.")
	}
	switch typ {
	case "":
		typ = "text"
	case "text", "binary":
	default:
		return errf(400, "InvalidParameter", "The specified parameter \"SecretDataType\" is not valid.")
	}
	stages := []string{kmsCurrent}
	if raw := q.params.Get("VersionStages"); raw != "" {
		if json.Unmarshal([]byte(raw), &stages) != nil || len(stages) == 0 {
			return errf(400, "InvalidParameter", "The specified parameter \"VersionStages\" is not valid.")
		}
	}
	s.mu.Lock()
	sec := s.kmsState()[kmsKey(region, name)]
	if sec == nil {
		s.mu.Unlock()
		return kmsNotFound
	}
	if v := sec.version(id); v != nil {
		same := v.Data == data && v.DataType == typ
		s.mu.Unlock()
		if !same {
			return errf(400, "Rejected.ResourceExist", fmt.Sprintf("The version %q of the secret already exists with another value.", id))
		}
		s.okPutSecretValue(q, name, id, v.Stages)
		return nil
	}
	if hasStage(&KMSVersion{Stages: stages}, kmsCurrent) {
		if cur := sec.stage(kmsCurrent); cur != nil {
			if prev := sec.stage(kmsPrevious); prev != nil {
				prev.Stages = removeStage(prev.Stages, kmsPrevious)
			}
			cur.Stages = append(removeStage(cur.Stages, kmsCurrent), kmsPrevious)
		}
	}
	for _, st := range stages { // a stage labels one version at a time
		for _, other := range sec.versions {
			other.Stages = removeStage(other.Stages, st)
		}
	}
	v := &KMSVersion{ID: id, Data: data, DataType: typ, Stages: stages, Created: time.Now()}
	sec.versions = append(sec.versions, v)
	if len(sec.versions) > kmsMaxVersions {
		sec.versions = sec.versions[len(sec.versions)-kmsMaxVersions:]
	}
	stages = append([]string(nil), v.Stages...)
	s.mu.Unlock()
	s.okPutSecretValue(q, name, id, stages)
	return nil
}

func (s *Server) okPutSecretValue(q *apiRequest, name, id string, stages []string) {
	s.okCR(q, struct {
		RequestID     string `json:"RequestId"`
		SecretName    string `json:"SecretName"`
		VersionID     string `json:"VersionId"`
		VersionStages struct {
			VersionStage []string `json:"VersionStage"`
		} `json:"VersionStages"`
	}{RequestID: q.reqID, SecretName: name, VersionID: id, VersionStages: struct {
		VersionStage []string `json:"VersionStage"`
	}{append([]string{}, stages...)}})
}

func removeStage(stages []string, stage string) []string {
	out := stages[:0:0]
	for _, st := range stages {
		if st != stage {
			out = append(out, st)
		}
	}
	return out
}
