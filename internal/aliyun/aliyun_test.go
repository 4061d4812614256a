package aliyun

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Endpoint
		err  string
	}{
		{"", Endpoint{}, ""},
		{"sae-vpc.cn-hangzhou.aliyuncs.com", Endpoint{Scheme: "https", Host: "sae-vpc.cn-hangzhou.aliyuncs.com"}, ""},
		{"https://sae.cn-hangzhou.aliyuncs.com:8443", Endpoint{Scheme: "https", Host: "sae.cn-hangzhou.aliyuncs.com", Port: "8443"}, ""},
		{"http://127.0.0.1:18080", Endpoint{Scheme: "http", Host: "127.0.0.1", Port: "18080"}, ""},
		{"http://localhost:18080/", Endpoint{Scheme: "http", Host: "localhost", Port: "18080"}, ""},
		{"http://[::1]:18080", Endpoint{Scheme: "http", Host: "::1", Port: "18080"}, ""},
		{"http://10.0.0.8:18080", Endpoint{}, "loopback addresses only"},
		{"http://sae.cn-hangzhou.aliyuncs.com", Endpoint{}, "loopback addresses only"},
		{"ftp://127.0.0.1", Endpoint{}, `scheme "ftp"`},
		{"https://host/path", Endpoint{}, "without path"},
		{"https://user:pw@host", Endpoint{}, "without path, query or user"},
		{"https://", Endpoint{}, "not a host"},
	} {
		got, err := ParseEndpoint("ROTATOR_SAE_ENDPOINT", tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "ROTATOR_SAE_ENDPOINT: ")):
			t.Errorf("%q: error %v, want one naming the variable and containing %q", tc.in, err, tc.err)
		}
	}
}

// timeoutErr is shaped like net/http's client timeout error.
type timeoutErr struct{}

func (timeoutErr) Error() string {
	return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
}
func (timeoutErr) Timeout() bool        { return true }
func (timeoutErr) Is(target error) bool { return target == context.DeadlineExceeded }

// SDK errors carry the URL and the string to sign, which hold the request's
// parameters (for UpdateSecret, the new credential): none of it may pass.
func TestCallErrorKeepsRequestDataOut(t *testing.T) {
	const secret = "SecretData=%7B%22SecretData%22%3A%22eyJhdXRocyI6e30%3D%22%7D"
	u := "http://127.0.0.1:1/pop/v1/sam/secret/secret?" + secret
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want string
		code string
	}{
		{"timeout", nil, &url.Error{Op: "Put", URL: u, Err: timeoutErr{}}, "sae UpdateSecret: no answer within 3s (timed out)", ""},
		{"refused", nil, &url.Error{Op: "Put", URL: u, Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")},
			"sae UpdateSecret: transport error: dial tcp 127.0.0.1:1: connect: connection refused", ""},
		{"client timeout", nil, &url.Error{Op: "Put", URL: u, Err: timeoutErr{}}, "no answer within 3s", ""},
		{"cancelled", done, &url.Error{Op: "Put", URL: u, Err: context.Canceled}, "cancelled", ""},
		{"client error wrapping the url", nil, sdkerrors.NewClientError("SDK.TimeoutError", "timed out "+u, &url.Error{Op: "Put", URL: u, Err: timeoutErr{}}),
			"no answer within", ""},
		{"server error", nil, sdkerrors.NewServerError(400, `{"Code":"InvalidParameter.WithMessage","Message":"bad value"}`, "StringToSign: PUT "+secret),
			"sae UpdateSecret: HTTP 400 InvalidParameter.WithMessage", "InvalidParameter.WithMessage"},
		{"anything else", nil, errors.New("sign failed for " + u), "request failed before it was sent", ""},
	} {
		ctx := tc.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		err := Shared(3*time.Second).Fail(ctx, "sae", "UpdateSecret", tc.err)
		var ce *port.CallError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %T", tc.name, err)
		}
		if msg := err.Error(); strings.Contains(msg, "SecretData") || strings.Contains(msg, "eyJ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %q (want it to contain %q and no request data)", tc.name, msg, tc.want)
		}
		if ce.ErrorCode() != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, ce.ErrorCode(), tc.code)
		}
	}
}

// Alibaba Cloud's throttling codes all say so; the answers that carry one
// (an SDK server error, a 2xx envelope saying it failed, an answer's code)
// are throttled, every other code is not.
func TestThrottlingCodes(t *testing.T) {
	for _, tc := range []struct {
		code string
		want bool
	}{{"Throttling.User", true}, {"Throttling.Api", true}, {"Rejected.Throttling", true}, {"Throttling", true},
		{"InvalidParameter", false}, {"InternalError", false}, {"", false}} {
		server := Shared(3*time.Second).Fail(context.Background(), "sae", "UpdateSecret",
			sdkerrors.NewServerError(400, `{"Code":"`+tc.code+`","Message":"m"}`, ""))
		envelope := Envelope("sae", "UpdateSecret", 200, false, tc.code, "m")
		for name, err := range map[string]error{"server error": server, "envelope": envelope, "answer": Failure("cr", "GetAuthorizationToken", 200, tc.code)} {
			var ae port.APIError
			if !errors.As(err, &ae) || ae.Throttled() != tc.want || (tc.want && ae.Transient()) {
				t.Errorf("%s with code %q: throttled %v, want %v", name, tc.code, ae != nil && ae.Throttled(), tc.want)
			}
		}
	}
}
