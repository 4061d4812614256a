package emulator_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	hwbasic "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	csmsv1 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1/model"

	"github.com/sae-secret-rotator/rotator/emulator"
)

const csmsProject = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"

var huaweiKey = emulator.HuaweiCredential{AK: "HWEMULATORTEST01", SK: "huawei-test-sk-not-real"}

// roundTripFunc lets a test change a request after the SDK signed it.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func csmsClient(t *testing.T, srv *emulator.Server, rt http.RoundTripper, headers map[string]string) *csmsv1.CsmsClient {
	t.Helper()
	cred, err := hwbasic.NewCredentialsBuilder().WithAk(huaweiKey.AK).WithSk(huaweiKey.SK).WithProjectId(csmsProject).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc := config.DefaultHttpConfig().WithTimeout(5 * time.Second)
	if rt != nil {
		hc = hc.WithHttpRoundTripper(rt)
	}
	c, err := csmsv1.CsmsClientBuilder().WithEndpoints([]string{srv.URL()}).WithCredential(cred).WithHttpConfig(hc).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	if headers != nil {
		c.PreInvoke(headers)
	}
	return csmsv1.NewCsmsClient(c)
}

func csmsServer(t *testing.T) *emulator.Server {
	t.Helper()
	srv := startServer(t, emulator.Options{})
	srv.AddHuaweiCredential(huaweiKey)
	if err := srv.CreateCSMSSecret(csmsProject, "acr-pull", `{"auths":{}}`, false); err != nil {
		t.Fatal(err)
	}
	return srv
}

func serviceError(t *testing.T, err error) *sdkerr.ServiceResponseError {
	t.Helper()
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) {
		t.Fatalf("%v is not a service error", err)
	}
	return se
}

// Requests that the gateway refuses: each answers its status and the
// {"error_code","error_msg"} body, and stores nothing.
func TestCSMSRefused(t *testing.T) {
	tamper := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.Body = io.NopCloser(bytes.NewReader([]byte(`{"secret_string":"{\"auths\":{\"evil\":{}}}"}`)))
		r.ContentLength = -1
		return http.DefaultTransport.RoundTrip(r)
	})
	for _, tc := range []struct {
		name    string
		rt      http.RoundTripper
		headers map[string]string
		status  int
		code    string
		why     string
	}{
		{"body changed after signing", tamper, nil, 401, "APIGW.0301", "signature does not match"},
		{"expired date", nil, map[string]string{"X-Sdk-Date": "20200101T000000Z"}, 401, "APIGW.0301", "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := csmsServer(t)
			v := `{"auths":{"ok":{}}}`
			_, err := csmsClient(t, srv, tc.rt, tc.headers).CreateSecretVersion(&model.CreateSecretVersionRequest{SecretName: "acr-pull",
				Body: &model.CreateSecretVersionRequestBody{SecretString: &v}})
			se := serviceError(t, err)
			if se.StatusCode != tc.status || se.ErrorCode != tc.code || !strings.Contains(se.ErrorMessage, tc.why) {
				t.Errorf("answered %d %s %q, want %d %s saying %q", se.StatusCode, se.ErrorCode, se.ErrorMessage, tc.status, tc.code, tc.why)
			}
			if n := srv.CSMSVersions(csmsProject, "acr-pull"); n != 1 {
				t.Errorf("%d versions after a refused write, want 1", n)
			}
		})
	}

	srv := csmsServer(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/" + csmsProject + "/secrets/acr-pull/versions/latest", 401, "APIGW.0301"}, // unsigned
		{"GET", "/v1/" + csmsProject + "/secrets/acr-pull", 404, "APIGW.0101"},                 // not emulated
	} {
		req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || body["error_code"] != tc.code || body["error_msg"] == "" {
			t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
	}
}

// Versions: a write makes the next version `latest` (SYSCURRENT), the
// older ones stay readable by id; binary secrets answer secret_binary;
// dropped writes are answered but not stored.
func TestCSMSVersions(t *testing.T) {
	srv := csmsServer(t)
	c := csmsClient(t, srv, nil, nil)
	v := `{"auths":{"r.example.com":{}}}`
	created, err := c.CreateSecretVersion(&model.CreateSecretVersionRequest{SecretName: "acr-pull", Body: &model.CreateSecretVersionRequestBody{SecretString: &v}})
	if err != nil || *created.VersionMetadata.Id != "v2" {
		t.Fatalf("create: %v", err)
	}
	latest, err := c.ShowSecretVersion(&model.ShowSecretVersionRequest{SecretName: "acr-pull", VersionId: "latest"})
	if err != nil || *latest.Version.VersionMetadata.Id != "v2" || *latest.Version.SecretString != v ||
		(*latest.Version.VersionMetadata.VersionStages)[0] != "SYSCURRENT" {
		t.Fatalf("latest: %v %v", latest, err)
	}
	first, err := c.ShowSecretVersion(&model.ShowSecretVersionRequest{SecretName: "acr-pull", VersionId: "v1"})
	if err != nil || *first.Version.SecretString != `{"auths":{}}` {
		t.Errorf("v1: %v %v", first, err)
	}
	_, err = c.ShowSecretVersion(&model.ShowSecretVersionRequest{SecretName: "acr-pull", VersionId: "v9"})
	if se := serviceError(t, err); se.StatusCode != 400 || se.ErrorCode != "CSMS.0005" {
		t.Errorf("missing version: %d %s", se.StatusCode, se.ErrorCode)
	}

	if err := srv.CreateCSMSSecret(csmsProject, "blob", "raw-bytes", true); err != nil {
		t.Fatal(err)
	}
	bin, err := c.ShowSecretVersion(&model.ShowSecretVersionRequest{SecretName: "blob", VersionId: "latest"})
	if err != nil || bin.Version.SecretString != nil || bin.Version.SecretBinary == nil ||
		*bin.Version.SecretBinary != base64.StdEncoding.EncodeToString([]byte("raw-bytes")) {
		t.Errorf("binary: %v %v", bin, err)
	}

	srv.SetFault("CreateSecretVersion", emulator.Fault{DropWrites: 1})
	dropped, err := c.CreateSecretVersion(&model.CreateSecretVersionRequest{SecretName: "acr-pull", Body: &model.CreateSecretVersionRequestBody{SecretString: &v}})
	if err != nil || *dropped.VersionMetadata.Id != "v3" {
		t.Fatalf("dropped write: %v", err)
	}
	if _, id, _ := srv.CSMSSecret(csmsProject, "acr-pull"); id != "v2" {
		t.Errorf("a dropped write was stored: latest %s", id)
	}
	for _, call := range srv.Calls() {
		if call.Product != "csms" || call.AccessKeyID != huaweiKey.AK {
			t.Errorf("call %s %s by %s", call.Product, call.Action, call.AccessKeyID)
		}
	}
}
