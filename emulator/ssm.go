package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Tencent Cloud Secrets Manager (SSM, version 2019-09-23) as the Tencent
// Cloud API 3.0 serves it: POST / with a JSON body, the action in
// X-TC-Action, the region in X-TC-Region, every request signed with
// TC3-HMAC-SHA256 (tc3.go) by a key registered with AddTencentCredential.
// Answers are HTTP 200 {"Response":{...,"RequestId":"..."}}, API errors
// too, as {"Response":{"Error":{"Code","Message"},"RequestId"}}.
//
// Calls are recorded with Product "ssm" and Action GetSecretValue or
// UpdateSecret; Query holds the body's string parameters and "Region" (for
// UpdateSecret, the secret value: never print Calls). Faults set on "ssm"
// (every action) or "ssm:<Action>" apply: Throttle answers
// RequestLimitExceeded, Fail InternalError (HTTP 200, or FailStatus when
// set), Hang and Latency as for the other products.

const ssmVersion = "2019-09-23"

// ssmMaxValue is the largest SecretString or SecretBinary in bytes: 4096
// on the international CreateSecret page
// (https://intl.cloud.tencent.com/document/api/1078/38656), the stricter of
// SSM's two documented figures (the Chinese page says 32 KB).
const ssmMaxValue = 4096

// ssmState is SSM's keys and secrets. Guarded by Server.mu; the zero value
// has neither.
type ssmState struct {
	creds   map[string]TencentCredential
	secrets map[string]map[string]ssmValue // region/name -> version -> value
	history []string                       // every value ever stored, for the secret guard
}

// ssmValue is one version's content; binary ones are answered as SecretBinary.
type ssmValue struct {
	value  string
	binary bool
}

func ssmKey(region, name string) string { return region + "/" + name }

// AddTencentCredential registers (or replaces, by SecretID) a Tencent
// Cloud key accepted by SSM.
func (s *Server) AddTencentCredential(c TencentCredential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ssm.creds == nil {
		s.ssm.creds = map[string]TencentCredential{}
	}
	s.ssm.creds[c.SecretID] = c
}

// CreateSSMSecret stores a version of an SSM secret (creating the secret
// when it has none), as the console would: no validation of the value, so
// tests can seed corrupt ones. binary stores the value as SecretBinary. An
// existing version is an error.
func (s *Server) CreateSSMSecret(region, name, versionID, value string, binary bool) error {
	if region == "" || name == "" || versionID == "" {
		return errors.New("emulator: CreateSSMSecret: region, name and versionID are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ssm.secrets == nil {
		s.ssm.secrets = map[string]map[string]ssmValue{}
	}
	k := ssmKey(region, name)
	if s.ssm.secrets[k] == nil {
		s.ssm.secrets[k] = map[string]ssmValue{}
	}
	if _, ok := s.ssm.secrets[k][versionID]; ok {
		return fmt.Errorf("emulator: CreateSSMSecret: secret %q in %s already has version %q", name, region, versionID)
	}
	s.ssm.secrets[k][versionID] = ssmValue{value: value, binary: binary}
	s.ssm.history = append(s.ssm.history, value)
	return nil
}

// SSMSecret returns the stored content of a version (for a binary one,
// its bytes): no faults, not recorded.
func (s *Server) SSMSecret(region, name, versionID string) (value string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.ssm.secrets[ssmKey(region, name)][versionID]
	return v.value, ok
}

// SSMSensitive lists what must never be printed: every registered Tencent
// secret key and token, every value an SSM version ever held and every
// value an UpdateSecret carried (also a refused one).
func (s *Server) SSMSensitive() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.ssm.history...)
	for _, c := range s.ssm.creds {
		out = append(out, c.SecretKey, c.Token)
	}
	for _, c := range s.calls {
		if c.Product == "ssm" {
			out = append(out, c.Query.Get("SecretString"), c.Query.Get("SecretBinary"))
		}
	}
	return out
}

// isTencentRequest reports an API 3.0 request (routed by ServeHTTP).
func isTencentRequest(r *http.Request) bool {
	return r.URL.Path == "/" && r.Header.Get("X-TC-Action") != ""
}

func (s *Server) serveSSM(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	q := &apiRequest{w: w, r: r, product: "ssm", action: r.Header.Get("X-TC-Action"), body: body, reqID: newRequestID()}
	params := map[string]any{}
	badBody := json.Unmarshal(body, &params) != nil
	q.params = url.Values{"Region": {r.Header.Get("X-TC-Region")}}
	for k, v := range params {
		if str, ok := v.(string); ok {
			q.params.Set(k, str)
		}
	}
	secretID := ""
	if a, ok := parseTC3Authorization(r.Header.Get("Authorization")); ok {
		secretID = a.secretID
	}
	q.call = &Call{Time: arrived, Product: "ssm", Action: q.action, Method: r.Method, Path: r.URL.Path,
		Query: cloneValues(q.params), AccessKeyID: secretID, SecurityToken: r.Header.Get("X-TC-Token")}
	faultKey := "ssm:" + q.action
	s.mu.Lock()
	s.calls = append(s.calls, q.call)
	hang, latency := s.faultDelays(faultKey, "ssm")
	s.mu.Unlock()

	// Faults: Hang, Latency, Throttle, Fail.
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		s.logf("ssm %s hung until the client went away or Close", q.action)
		panic(http.ErrAbortHandler)
	}
	if !s.sleepCtx(r.Context(), latency) {
		panic(http.ErrAbortHandler)
	}
	if e := s.consumeSSMFault(faultKey); e != nil {
		s.failTC(q, e)
		return
	}

	// Normal handling.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method != http.MethodPost || mt != "application/json" {
		s.failTC(q, errf(200, "UnsupportedProtocol", "The emulator serves POST requests with a JSON body only."))
		return
	}
	if e := s.authenticateTC3(r, body); e != nil {
		s.failTC(q, e)
		return
	}
	switch {
	case r.Header.Get("X-TC-Version") != ssmVersion:
		s.failTC(q, errf(200, "NoSuchVersion", "The API version does not exist."))
	case q.params.Get("Region") == "":
		s.failTC(q, errf(200, "MissingParameter", "The request is missing a required parameter `Region`."))
	case badBody:
		s.failTC(q, errf(200, "InvalidParameter", "The request body is not a JSON object."))
	case q.action == "GetSecretValue":
		s.ssmGet(q, params)
	case q.action == "UpdateSecret":
		s.ssmUpdate(q, params)
	default:
		s.failTC(q, errf(200, "InvalidAction", "The action does not exist."))
	}
}

// consumeSSMFault applies Throttle, then Fail.
func (s *Server) consumeSSMFault(key string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	faults := s.matchingFaults(key, "ssm")
	for _, f := range faults {
		if f.Throttle > 0 {
			f.Throttle--
			return errf(200, "RequestLimitExceeded", "Your current request times equals to `50` in a second, which exceeds the frequency limit `50` for a second. Please reduce the frequency of calls.")
		}
	}
	for _, f := range faults {
		if f.Fail > 0 {
			f.Fail--
			status := f.FailStatus
			if status == 0 {
				status = 200 // Tencent answers its InternalError with HTTP 200
			}
			return errf(status, "InternalError", "An internal error has occurred. Retry your request.")
		}
	}
	return nil
}

// ssmParams checks the body's parameters: the required ones must be
// strings, no unknown ones.
func ssmParams(params map[string]any, required []string, optional ...string) *apiError {
	known := map[string]bool{}
	for _, k := range append(append([]string(nil), required...), optional...) {
		known[k] = true
	}
	for k, v := range params {
		if !known[k] {
			return errf(200, "UnknownParameter", "The parameter `"+k+"` is not recognized.")
		}
		if _, ok := v.(string); !ok {
			return errf(200, "InvalidParameter", "The parameter `"+k+"` must be a string.")
		}
	}
	for _, k := range required {
		if v, _ := params[k].(string); v == "" {
			return errf(200, "MissingParameter", "The request is missing a required parameter `"+k+"`.")
		}
	}
	return nil
}

// ssmVersionLocked finds a version; call with s.mu held.
func (s *Server) ssmVersionLocked(region, name, version string) (ssmValue, *apiError) {
	versions := s.ssm.secrets[ssmKey(region, name)]
	if versions == nil {
		return ssmValue{}, errf(200, "ResourceNotFound", "The secret does not exist.")
	}
	v, ok := versions[version]
	if !ok {
		return ssmValue{}, errf(200, "ResourceNotFound", "The version of the secret does not exist.")
	}
	return v, nil
}

func (s *Server) ssmGet(q *apiRequest, params map[string]any) {
	if e := ssmParams(params, []string{"SecretName", "VersionId"}); e != nil {
		s.failTC(q, e)
		return
	}
	name, version := q.params.Get("SecretName"), q.params.Get("VersionId")
	s.mu.Lock()
	v, e := s.ssmVersionLocked(q.params.Get("Region"), name, version)
	s.mu.Unlock()
	if e != nil {
		s.failTC(q, e)
		return
	}
	text, bin := v.value, ""
	if v.binary {
		text, bin = "", base64.StdEncoding.EncodeToString([]byte(v.value))
	}
	s.okTC(q, map[string]any{"SecretName": name, "VersionId": version, "SecretString": text, "SecretBinary": bin})
}

func (s *Server) ssmUpdate(q *apiRequest, params map[string]any) {
	if e := ssmParams(params, []string{"SecretName", "VersionId"}, "SecretString", "SecretBinary"); e != nil {
		s.failTC(q, e)
		return
	}
	_, hasText := params["SecretString"]
	_, hasBin := params["SecretBinary"]
	if hasText == hasBin {
		s.failTC(q, errf(200, "InvalidParameterValue", "Exactly one of SecretString and SecretBinary must be set."))
		return
	}
	nv := ssmValue{value: q.params.Get("SecretString")}
	if hasBin {
		b, err := base64.StdEncoding.DecodeString(q.params.Get("SecretBinary"))
		if err != nil {
			s.failTC(q, errf(200, "InvalidParameterValue", "SecretBinary is not base64."))
			return
		}
		nv = ssmValue{value: string(b), binary: true}
	}
	if len(nv.value) > ssmMaxValue {
		// InvalidParameterValue is the code SSM's UpdateSecret lists for a bad value.
		s.failTC(q, errf(200, "InvalidParameterValue", "The secret value exceeds the maximum length of 4096 bytes."))
		return
	}
	region, name, version := q.params.Get("Region"), q.params.Get("SecretName"), q.params.Get("VersionId")
	s.mu.Lock()
	_, e := s.ssmVersionLocked(region, name, version)
	if e == nil {
		s.ssm.secrets[ssmKey(region, name)][version] = nv
		s.ssm.history = append(s.ssm.history, nv.value)
	}
	s.mu.Unlock()
	if e != nil {
		s.failTC(q, e)
		return
	}
	s.okTC(q, map[string]any{"SecretName": name, "VersionId": version})
}

// okTC answers the API 3.0 success envelope.
func (s *Server) okTC(q *apiRequest, fields map[string]any) {
	fields["RequestId"] = q.reqID
	writeTC(q.w, 200, s.edited(q, map[string]any{"Response": fields}))
	s.finish(q, 200, "")
}

// failTC answers the API 3.0 error envelope.
func (s *Server) failTC(q *apiRequest, e *apiError) {
	writeTC(q.w, e.status, map[string]any{"Response": map[string]any{
		"Error": map[string]string{"Code": e.code, "Message": e.message}, "RequestId": q.reqID}})
	s.finish(q, e.status, e.code)
}

func writeTC(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
