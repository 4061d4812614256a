package conformance_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1/model"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	tcssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"
)

// exchange is one request as the client sent it and the answer as the
// emulator gave it. Bodies hold credentials and secret values: a failure
// message names members and parameters, never a value.
type exchange struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
	Status       int
	Answer       []byte
}

// rpc reports an Alibaba RPC request (every RPC action is POSTed to "/";
// Tencent's API 3.0 uses "/" too, named by X-TC-Action).
func (ex *exchange) rpc() bool { return ex.Path == "/" && !ex.tencent() }

func (ex *exchange) tencent() bool { return ex.Header.Get("X-TC-Action") != "" }

func (ex *exchange) huawei() bool { return strings.HasPrefix(ex.Path, "/v1/") }

// params are an RPC request's query and form parameters together.
func (ex *exchange) params() url.Values {
	p := url.Values{}
	for k, v := range ex.Query {
		p[k] = v
	}
	if form, err := url.ParseQuery(string(ex.Body)); err == nil {
		for k, v := range form {
			p[k] = v
		}
	}
	return p
}

// failed reports an error answer: an HTTP error, or SAE's Success false.
func (ex *exchange) failed() bool {
	if ex.Status >= 300 {
		return true
	}
	var env struct{ Success *bool }
	return json.Unmarshal(ex.Answer, &env) == nil && env.Success != nil && !*env.Success
}

// recorder is a reverse proxy in front of the emulator that keeps every
// exchange. It forwards the Host header as the client signed it.
type recorder struct {
	URL string
	mu  sync.Mutex
	log []*exchange
}

func record(t *testing.T, target string) *recorder {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "unreadable request", http.StatusBadGateway)
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		out.Host = r.Host
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, "the emulator did not answer", http.StatusBadGateway)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
		rec.mu.Lock()
		rec.log = append(rec.log, &exchange{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(),
			Body: body, Status: resp.StatusCode, Answer: answer})
		rec.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// take returns the exchanges recorded since the last take.
func (rec *recorder) take() []*exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.log
	rec.log = nil
	return out
}

// strict decodes b into v, refusing members v's type does not have.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// huaweiError holds the members of a Huawei Cloud error answer that the
// SDK reads (huaweicloud-sdk-go-v3 v0.1.207, core/sdkerr/errors.go: the
// keys error_code, error_msg, code, message, encoded_authorization_message
// and details of processServiceResponseError).
type huaweiError struct {
	ErrorCode                   string `json:"error_code"`
	ErrorMsg                    string `json:"error_msg"`
	Code                        string `json:"code"`
	Message                     string `json:"message"`
	EncodedAuthorizationMessage string `json:"encoded_authorization_message"`
	Details                     []any  `json:"details"`
}

// checkHuawei holds a CSMS exchange to the SDK's own types: the answer
// decodes into the API's response model (or the SDK's error keys) with
// unknown members refused; the request carries no query and a body only
// where the API's request model has one.
func checkHuawei(ex *exchange) (apiName string, bad []string) {
	var answer, body any
	switch {
	case ex.Method == http.MethodGet && strings.Contains(ex.Path, "/versions/"):
		apiName, answer = "ShowSecretVersion", &model.ShowSecretVersionResponse{}
	case ex.Method == http.MethodPost && strings.HasSuffix(ex.Path, "/versions"):
		apiName, answer, body = "CreateSecretVersion", &model.CreateSecretVersionResponse{}, &model.CreateSecretVersionRequestBody{}
	default:
		return "", []string{ex.Method + " " + ex.Path + ": no CSMS API the function calls"}
	}
	if ex.Status >= 300 {
		answer = &huaweiError{}
	}
	if err := strict(ex.Answer, answer); err != nil {
		bad = append(bad, "answer: "+decodeError(err))
	}
	if len(ex.Query) > 0 {
		bad = append(bad, "request: a query, the API has none")
	}
	switch {
	case body == nil && len(ex.Body) > 0:
		bad = append(bad, "request: a body, the API has none")
	case body != nil:
		if err := strict(ex.Body, body); err != nil {
			bad = append(bad, "request body: "+decodeError(err))
		}
	}
	return apiName, bad
}

// checkTencent holds an SSM exchange to the SDK's own types: the request
// body decodes into the action's request type, the answer into its
// response type (or the SDK's ErrorResponse), unknown members refused.
func checkTencent(ex *exchange) (apiName string, bad []string) {
	apiName = ex.Header.Get("X-TC-Action")
	var req, resp any
	switch apiName {
	case "GetSecretValue":
		req, resp = &tcssm.GetSecretValueRequest{}, &tcssm.GetSecretValueResponse{}
	case "UpdateSecret":
		req, resp = &tcssm.UpdateSecretRequest{}, &tcssm.UpdateSecretResponse{}
	default:
		return apiName, []string{apiName + ": no SSM API the function calls"}
	}
	var probe struct {
		Response struct {
			Error json.RawMessage
		}
	}
	if json.Unmarshal(ex.Answer, &probe) == nil && probe.Response.Error != nil {
		resp = &tchttp.ErrorResponse{}
	}
	if err := strict(ex.Answer, resp); err != nil {
		bad = append(bad, "answer: "+decodeError(err))
	}
	if err := strict(ex.Body, req); err != nil {
		bad = append(bad, "request body: "+decodeError(err))
	}
	if len(ex.Query) > 0 {
		bad = append(bad, "request: a query, API 3.0 POSTs carry none")
	}
	return apiName, bad
}

// decodeError keeps a decoding error's words, which name a member or a
// type, never a value.
func decodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "member " + te.Field + " is not a " + te.Type.String()
	}
	return err.Error()
}
