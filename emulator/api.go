package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	saeVersion = "2019-05-06"
	crVersion  = "2018-12-01"

	saeSecretPath  = "/pop/v1/sam/secret/secret"
	saeSecretsPath = "/pop/v1/sam/secret/secrets"
	runtimePrefix  = "/2020-11-11/runtime/"

	maxBody = 1 << 20
)

// apiError is an error answer.
type apiError struct {
	status        int
	code, message string
}

func errf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func notEmpty(param string) *apiError {
	return errf(400, "InvalidParameter.NotEmpty", "You must specify the parameter "+param+".")
}

func invalidParam(param, why string) *apiError {
	return errf(400, "InvalidParameter.WithMessage", "The parameter is invalid {"+param+"}: "+why)
}

var throttled = errf(400, "Throttling.User", "Request was denied due to user flow control.")

// apiRequest is one SAE or ACR request in flight.
type apiRequest struct {
	w       http.ResponseWriter
	r       *http.Request
	product string
	action  string
	params  url.Values // ROA: query; RPC: query and form merged
	body    []byte
	call    *Call
	reqID   string
}

// ServeHTTP serves the three APIs. It is exported only because *Server is an
// http.Handler; tests use the network address instead.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		panic(http.ErrAbortHandler)
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()

	switch {
	case strings.HasPrefix(r.URL.Path, runtimePrefix):
		s.serveRuntime(w, r)
	case strings.HasPrefix(r.URL.Path, "/pop/"):
		s.serveAPI(w, r, "sae")
	case r.URL.Path == personalTokensPath:
		s.serveAPI(w, r, "cr") // ACR Personal Edition, ROA (personal.go)
	case isRegistryPath(r.URL.Path):
		s.serveRegistry(w, r)
	case strings.HasPrefix(r.URL.Path, "/v1/"):
		s.serveCSMS(w, r) // Huawei Cloud CSMS
	case isTencentRequest(r):
		s.serveSSM(w, r) // Tencent Cloud API 3.0: "/" too, named by X-TC-Action
	case r.URL.Path == "/":
		s.serveAPI(w, r, "cr") // RPC requests all go to "/"; KMS's are told apart by Version
	default:
		writeJSON(w, http.StatusNotFound, newRequestID(), map[string]string{"Code": "InvalidPath", "Message": "The emulator does not serve this path."})
	}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, product string) {
	arrived := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	q := &apiRequest{w: w, r: r, product: product, body: body, reqID: newRequestID()}
	var ak, token string
	if q.roa() {
		q.params = r.URL.Query()
		q.action = roaAction(r)
		ak, _ = parseROAAuthorization(r.Header.Get("Authorization"))
		token = r.Header.Get("x-acs-security-token")
	} else {
		q.params = rpcParams(r, body)
		q.action = q.params.Get("Action")
		switch q.params.Get("Version") { // RPC requests are told apart by Version
		case kmsVersion:
			product, q.product = "kms", "kms"
		case stsVersion:
			product, q.product = "sts", "sts"
		}
		ak = q.params.Get("AccessKeyId")
		token = q.params.Get("SecurityToken")
	}
	recorded := cloneValues(q.params)
	delete(recorded, "Signature")
	q.call = &Call{
		Time: arrived, Product: product, Action: q.action, Method: r.Method, Path: r.URL.Path,
		Query: recorded, AccessKeyID: ak, SecurityToken: token,
	}
	s.mu.Lock()
	s.calls = append(s.calls, q.call)
	hang, latency := s.faultDelays(q.action, product)
	s.mu.Unlock()

	// Faults: Hang, Latency, Throttle, Fail.
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		s.logf("%s %s hung until the client went away or Close", product, q.action)
		panic(http.ErrAbortHandler)
	}
	if !s.sleepCtx(r.Context(), latency) {
		panic(http.ErrAbortHandler)
	}
	if e := s.consumeFault(q.action, product); e != nil {
		s.fail(q, e)
		return
	}
	if e := s.consumeEcho(q, token); e != nil {
		s.fail(q, e)
		return
	}

	// Normal handling.
	if e := s.authenticate(q); e != nil {
		s.fail(q, e)
		return
	}
	if product == "sae" {
		s.serveSAE(q)
	} else if product == "kms" {
		s.serveKMS(q)
	} else if product == "sts" {
		s.serveSTS(q)
	} else {
		s.serveCR(q)
	}
}

// saeAction maps an ROA request to its action by method and path, as the
// gateway routes them; the x-acs-action header names unknown routes.
func saeAction(r *http.Request) string {
	switch r.URL.Path {
	case saeSecretPath:
		switch r.Method {
		case http.MethodGet:
			return "DescribeSecret"
		case http.MethodPut:
			return "UpdateSecret"
		case http.MethodPost:
			return "CreateSecret"
		case http.MethodDelete:
			return "DeleteSecret"
		}
	case saeSecretsPath:
		if r.Method == http.MethodGet {
			return "ListSecrets"
		}
	}
	return r.Header.Get("x-acs-action")
}

// rpcParams merges the query and, for form bodies, the form parameters (the
// form wins, as in the SDK's string to sign).
func rpcParams(r *http.Request, body []byte) url.Values {
	params := r.URL.Query()
	ct := r.Header.Get("Content-Type")
	if len(body) > 0 && strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range form {
				params[k] = v
			}
		}
	}
	return params
}

// faultDelays reads Hang and Latency of the faults matching a call.
func (s *Server) faultDelays(action, product string) (hang bool, latency time.Duration) {
	for _, f := range s.matchingFaults(action, product) {
		hang = hang || f.Hang
		latency += f.Latency
	}
	return hang, latency
}

func (s *Server) matchingFaults(action, product string) []*Fault {
	var out []*Fault
	if f := s.faults[action]; f != nil && action != "" {
		out = append(out, f)
	}
	if product != action {
		if f := s.faults[product]; f != nil {
			out = append(out, f)
		}
	}
	return out
}

// consumeFault applies Throttle, then Fail.
func (s *Server) consumeFault(action, product string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	faults := s.matchingFaults(action, product)
	for _, f := range faults {
		if f.Throttle > 0 {
			f.Throttle--
			if product == "kms" {
				return kmsThrottled
			}
			return throttled
		}
	}
	for _, f := range faults {
		if f.Fail > 0 {
			f.Fail--
			status := f.FailStatus
			if status == 0 {
				status = 500
			}
			if product == "kms" {
				return kmsFailure(status)
			}
			if product != "sae" {
				return errf(status, "InternalError", "The request processing has failed due to some unknown error.")
			}
			if status == 500 {
				return errf(status, "OperationFailed.RPCError", "Internal RPC request processing error.")
			}
			return errf(status, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
		}
	}
	return nil
}

// consumeDropWrite reports whether this write is to be dropped. Call with s.mu held.
func (s *Server) consumeDropWrite(action, product string) bool {
	for _, f := range s.matchingFaults(action, product) {
		if f.DropWrites > 0 {
			f.DropWrites--
			return true
		}
	}
	return false
}

// lagReads is the LagReads in force for a read. Call with s.mu held.
func (s *Server) lagReads(action, product string) int {
	n := 0
	for _, f := range s.matchingFaults(action, product) {
		n = max(n, f.LagReads)
	}
	return n
}

// admitQuota counts an SAE call against the sliding-window quota. Call with s.mu held.
func (s *Server) admitQuota(now time.Time) bool {
	if s.quota < 0 {
		return true
	}
	cutoff := now.Add(-s.window)
	i := 0
	for i < len(s.admitted) && !s.admitted[i].After(cutoff) {
		i++
	}
	s.admitted = s.admitted[i:]
	if len(s.admitted) >= s.quota {
		return false
	}
	s.admitted = append(s.admitted, now)
	return true
}

func (s *Server) finish(q *apiRequest, status int, code string) {
	s.mu.Lock()
	q.call.Status, q.call.Code = status, code
	s.mu.Unlock()
	if code == "" {
		s.logf("%s %s by %s -> %d", q.product, q.action, q.call.AccessKeyID, status)
	} else {
		s.logf("%s %s by %s -> %d %s", q.product, q.action, q.call.AccessKeyID, status, code)
	}
}

// saeErrorCodes are the errors SAE's API reference lists for its secret
// APIs (error table of DescribeSecret, UpdateSecret, ListSecrets); the
// others (throttling, signatures, an unknown action or version, 5xx of the
// gateway) come in the API gateway's common shape.
var saeErrorCodes = map[string]bool{"InvalidParameter.NotEmpty": true, "InvalidParameter.Obviously": true,
	"InvalidParameter.WithMessage": true, "InvalidSecretId.NotFound": true, "InvalidNamespaceId.NotFound": true,
	"InvalidSecretDataKey.NotFound": true, "OperationFailed.RPCError": true}

// fail answers an error body: SAE's own errors in its envelope, the others
// in the gateway's common shape (RequestId, HostId, Code, Message).
func (s *Server) fail(q *apiRequest, e *apiError) {
	if q.product == "kms" {
		e = s.kmsEchoed(q, e)
	}
	var body any
	if q.product == "sae" && saeErrorCodes[e.code] {
		// SAE's own errors as its reference gives them: Code is the HTTP
		// status, ErrorCode the code (DescribeSecret, UpdateSecret pages).
		body = struct {
			RequestID string `json:"RequestId"`
			TraceID   string `json:"TraceId"`
			Code      string `json:"Code"`
			ErrorCode string `json:"ErrorCode"`
			Message   string `json:"Message"`
			Success   bool   `json:"Success"`
		}{q.reqID, randomHex(15), strconv.Itoa(e.status), e.code, e.message, false}
	} else {
		body = struct {
			RequestID string `json:"RequestId"`
			HostID    string `json:"HostId"`
			Code      string `json:"Code"`
			Message   string `json:"Message"`
		}{q.reqID, q.r.Host, e.code, e.message}
	}
	writeJSON(q.w, e.status, q.reqID, body)
	s.finish(q, e.status, e.code)
}

// okSAE answers the SAE success envelope.
func (s *Server) okSAE(q *apiRequest, data any) {
	writeJSON(q.w, 200, q.reqID, s.edited(q, struct {
		RequestID string `json:"RequestId"`
		Message   string `json:"Message"`
		TraceID   string `json:"TraceId"`
		Data      any    `json:"Data"`
		Code      string `json:"Code"`
		Success   bool   `json:"Success"`
	}{q.reqID, "success", randomHex(15), data, "200", true}))
	s.finish(q, 200, "")
}

func (s *Server) okCR(q *apiRequest, body any) {
	writeJSON(q.w, 200, q.reqID, s.edited(q, body))
	s.finish(q, 200, "")
}

func writeJSON(w http.ResponseWriter, status int, reqID string, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status = 500
		b = []byte(`{"Code":"InternalError","Message":"emulator failed to encode its answer","Success":false}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("x-acs-request-id", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// consumeEcho applies an Echo fault: an error message that quotes the
// request, as SAE documents for InvalidParameter.WithMessage.
func (s *Server) consumeEcho(q *apiRequest, token string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.matchingFaults(q.action, q.product) {
		if f.Echo <= 0 {
			continue
		}
		f.Echo--
		keys := make([]string, 0, len(q.params))
		for k := range q.params {
			if k != "Signature" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("The parameter is invalid:")
		for _, k := range keys {
			b.WriteString(" " + k + "=" + q.params.Get(k))
		}
		b.WriteString(" SecurityToken=" + token + " body=" + string(q.body))
		msg := b.String()
		if f.EchoCut > 0 && len(msg) > f.EchoCut {
			msg = msg[:f.EchoCut]
		}
		return errf(400, "InvalidParameter.WithMessage", msg)
	}
	return nil
}
