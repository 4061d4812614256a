package emulator_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	tcssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"

	"github.com/sae-secret-rotator/rotator/emulator"
)

var tcKey = emulator.TencentCredential{SecretID: "AKIDemuTest", SecretKey: "emu-tencent-secret-key", Token: "emu-tencent-token"}

// tamper edits a signed request before it leaves, as a man in the middle would.
type tamper func(*http.Request)

func (f tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

// ssmClient is the real SDK client pointed at the emulator.
func ssmClient(srv *emulator.Server, c emulator.TencentCredential, edit func(*http.Request)) *tcssm.Client {
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = strings.TrimPrefix(srv.URL(), "http://")
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.ReqTimeout = 5
	client, _ := tcssm.NewClient(common.NewTokenCredential(c.SecretID, c.SecretKey, c.Token), "ap-guangzhou", cpf)
	if edit != nil {
		client.WithHttpTransport(tamper(edit))
	}
	return client
}

func getValue(c *tcssm.Client, name, version string) (*tcssm.GetSecretValueResponse, error) {
	req := tcssm.NewGetSecretValueRequest()
	req.SecretName, req.VersionId = common.StringPtr(name), common.StringPtr(version)
	return c.GetSecretValue(req)
}

func updateText(c *tcssm.Client, name, version, value string) error {
	req := tcssm.NewUpdateSecretRequest()
	req.SecretName, req.VersionId, req.SecretString = common.StringPtr(name), common.StringPtr(version), common.StringPtr(value)
	_, err := c.UpdateSecret(req)
	return err
}

func tcCode(err error) string {
	var e *tcerrors.TencentCloudSDKError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Every call's TC3-HMAC-SHA256 signature is checked: a body, a host or a
// timestamp changed after signing, a wrong key, an unknown id or a missing
// token is refused, and the secret is left as it was.
func TestSSMSignature(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddTencentCredential(tcKey)
	if err := srv.CreateSSMSecret("ap-guangzhou", "acr-pull", "current", `{"auths":{}}`, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cred emulator.TencentCredential
		edit func(*http.Request)
		want string
	}{
		{"signed", tcKey, nil, ""},
		{"body changed", tcKey, func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			b = bytes.Replace(b, []byte(`{\"auths\":{}}`), []byte(`{\"auths\":{\"x\":{}}}`), 1)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}, "AuthFailure.SignatureFailure"},
		{"host changed", tcKey, func(r *http.Request) { r.Host = "localhost:" + srv.Port() }, "AuthFailure.SignatureFailure"},
		{"content type changed", tcKey, func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") }, "AuthFailure.SignatureFailure"},
		{"form body", tcKey, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, "UnsupportedProtocol"},
		{"old timestamp", tcKey, func(r *http.Request) {
			delete(r.Header, "X-TC-Timestamp") // the SDK sets it under this exact, non-canonical key
			r.Header.Set("X-TC-Timestamp", strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10))
		}, "AuthFailure.SignatureExpire"},
		{"wrong key", emulator.TencentCredential{SecretID: tcKey.SecretID, SecretKey: "not-the-key", Token: tcKey.Token}, nil, "AuthFailure.SignatureFailure"},
		{"unknown id", emulator.TencentCredential{SecretID: "AKIDother", SecretKey: tcKey.SecretKey}, nil, "AuthFailure.SecretIdNotFound"},
		{"no token", emulator.TencentCredential{SecretID: tcKey.SecretID, SecretKey: tcKey.SecretKey}, nil, "AuthFailure.TokenFailure"},
		{"no authorization", tcKey, func(r *http.Request) { r.Header.Del("Authorization") }, "AuthFailure.SignatureFailure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := updateText(ssmClient(srv, tc.cred, tc.edit), "acr-pull", "current", `{"auths":{}}`)
			if tcCode(err) != tc.want {
				t.Fatalf("UpdateSecret: %q (%v), want %q", tcCode(err), err, tc.want)
			}
			if v, _ := srv.SSMSecret("ap-guangzhou", "acr-pull", "current"); v != `{"auths":{}}` {
				t.Errorf("the secret changed")
			}
			calls := srv.Calls()
			if last := calls[len(calls)-1]; last.Product != "ssm" || last.Action != "UpdateSecret" || last.Code != tc.want {
				t.Errorf("recorded %s %s %q", last.Product, last.Action, last.Code)
			}
		})
	}
}

// The wire as Tencent Cloud answers it: HTTP 200 envelopes, errors inside.
func TestSSMEnvelope(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader(`{"SecretName":"x","VersionId":"v"}`))
	req.Header.Set("X-TC-Action", "GetSecretValue")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Response struct {
			Error     struct{ Code, Message string }
			RequestID string `json:"RequestId"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 ||
		body.Response.Error.Code != "AuthFailure.SignatureFailure" || body.Response.Error.Message == "" || body.Response.RequestID == "" {
		t.Errorf("unsigned call: HTTP %d %+v (%v), want 200 with an AuthFailure error envelope", resp.StatusCode, body, err)
	}
}

// Named versions, binary values and the faults of product ssm, which leave
// SAE's actions of the same name alone.
func TestSSMVersionsBinaryAndFaults(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddTencentCredential(tcKey)
	c := ssmClient(srv, tcKey, nil)
	for _, v := range []struct{ version, value string }{{"current", `{"a":1}`}, {"old", `{"a":0}`}} {
		if err := srv.CreateSSMSecret("ap-guangzhou", "multi", v.version, v.value, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.CreateSSMSecret("ap-guangzhou", "multi", "old", "again", false); err == nil {
		t.Error("CreateSSMSecret replaced an existing version")
	}
	if err := updateText(c, "multi", "current", `{"a":2}`); err != nil {
		t.Fatal(err)
	}
	for version, want := range map[string]string{"current": `{"a":2}`, "old": `{"a":0}`} {
		resp, err := getValue(c, "multi", version)
		if err != nil || *resp.Response.SecretString != want || *resp.Response.VersionId != version || *resp.Response.SecretBinary != "" {
			t.Errorf("version %s: %v, want %s", version, err, want)
		}
	}
	if _, err := getValue(c, "multi", "gone"); tcCode(err) != "ResourceNotFound" {
		t.Errorf("a missing version: %q, want ResourceNotFound", tcCode(err))
	}

	if err := srv.CreateSSMSecret("ap-guangzhou", "bin", "current", "\x00raw", true); err != nil {
		t.Fatal(err)
	}
	resp, err := getValue(c, "bin", "current")
	if err != nil || *resp.Response.SecretString != "" || *resp.Response.SecretBinary != base64.StdEncoding.EncodeToString([]byte("\x00raw")) {
		t.Errorf("a binary secret is not answered as SecretBinary (%v)", err)
	}

	srv.SetFault("ssm:UpdateSecret", emulator.Fault{Throttle: 1, Fail: 1})
	srv.SetFault("UpdateSecret", emulator.Fault{Fail: 5}) // SAE's UpdateSecret: not SSM's
	if _, err := getValue(c, "multi", "current"); err != nil {
		t.Errorf("a fault of UpdateSecret hit GetSecretValue: %v", err)
	}
	for _, want := range []string{"RequestLimitExceeded", "InternalError", ""} {
		if err := updateText(c, "multi", "current", `{"a":3}`); tcCode(err) != want {
			t.Errorf("UpdateSecret: %q, want %q", tcCode(err), want)
		}
	}
	srv.ClearFaults()
	srv.SetFault("ssm", emulator.Fault{Fail: 1, FailStatus: 502})
	if _, err := getValue(c, "multi", "current"); tcCode(err) != "ClientError.HttpStatusCodeError" {
		t.Errorf("FailStatus 502: %q, want the SDK's HTTP status error", tcCode(err))
	}
	srv.SetFault("ssm", emulator.Fault{Latency: 200 * time.Millisecond})
	start := time.Now()
	if _, err := getValue(c, "multi", "current"); err != nil || time.Since(start) < 200*time.Millisecond {
		t.Errorf("Latency: %v after %v", err, time.Since(start))
	}

	sensitive := srv.SSMSensitive()
	for _, v := range []string{tcKey.SecretKey, tcKey.Token, `{"a":0}`, `{"a":3}`, "\x00raw"} {
		if !slices.Contains(sensitive, v) {
			t.Errorf("SSMSensitive misses a key, a token or a value (%d bytes)", len(v))
		}
	}
}
