package emulator_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/kms"

	"github.com/sae-secret-rotator/rotator/emulator"
)

func kmsClient(t testing.TB, c emulator.Credential) *kms.Client {
	t.Helper()
	client, err := kms.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP").WithTimeout(10*time.Second), sdkCredential(c))
	if err != nil {
		t.Fatalf("kms client: %v", err)
	}
	return client
}

func getSecretValue(srv *emulator.Server, c *kms.Client, name, version, stage string) (*kms.GetSecretValueResponse, error) {
	req := kms.CreateGetSecretValueRequest()
	rpc(srv, req.RpcRequest)
	req.SecretName, req.VersionId, req.VersionStage = name, version, stage
	return c.GetSecretValue(req)
}

func putSecretValue(srv *emulator.Server, c *kms.Client, name, version, data string) (*kms.PutSecretValueResponse, error) {
	req := kms.CreatePutSecretValueRequest()
	rpc(srv, req.RpcRequest)
	req.SecretName, req.VersionId, req.SecretData, req.SecretDataType = name, version, data, "text"
	return c.PutSecretValue(req)
}

// Versions and stages: a put moves ACSCurrent to the new version and
// ACSPrevious to the one before; a version id is reused only with the same
// value (idempotent), and reads by stage or by version see the right one.
func TestKMSVersionsAndStages(t *testing.T) {
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}})
	srv.CreateKMSSecret("cn-hangzhou", "acr-pull", `{"auths":{}}`, false)
	c := kmsClient(t, stsCred)

	for i, v := range []struct{ id, data string }{{"v2", `{"n":2}`}, {"v3", `{"n":3}`}, {"v3", `{"n":3}`}} {
		resp, err := putSecretValue(srv, c, "acr-pull", v.id, v.data)
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if resp.VersionId != v.id || strings.Join(resp.VersionStages.VersionStage, ",") != "ACSCurrent" || resp.RequestId == "" {
			t.Fatalf("put %d: version %q stages %v", i, resp.VersionId, resp.VersionStages.VersionStage)
		}
	}
	_, err := putSecretValue(srv, c, "acr-pull", "v2", `{"n":"other"}`)
	serverError(t, err, "Rejected.ResourceExist", 400)

	for _, tc := range []struct{ version, stage, wantID, wantData string }{
		{"", "", "v3", `{"n":3}`},
		{"", "ACSCurrent", "v3", `{"n":3}`},
		{"", "ACSPrevious", "v2", `{"n":2}`},
		{"v1", "", "v1", `{"auths":{}}`},
	} {
		resp, err := getSecretValue(srv, c, "acr-pull", tc.version, tc.stage)
		if err != nil {
			t.Fatalf("get %q %q: %v", tc.version, tc.stage, err)
		}
		if resp.VersionId != tc.wantID || resp.SecretData != tc.wantData || resp.SecretDataType != "text" || resp.SecretName != "acr-pull" {
			t.Errorf("get %q %q: version %q data %q type %q", tc.version, tc.stage, resp.VersionId, resp.SecretData, resp.SecretDataType)
		}
	}
	if v, _ := srv.KMSSecret("cn-hangzhou", "acr-pull"); v.ID != "v3" {
		t.Errorf("KMSSecret: current %q", v.ID)
	}
	if vs := srv.KMSVersions("cn-hangzhou", "acr-pull"); len(vs) != 3 || len(vs[0].Stages) != 0 {
		t.Errorf("versions %d; v1 stages %v", len(vs), vs[0].Stages)
	}

	_, err = getSecretValue(srv, c, "nope", "", "")
	serverError(t, err, "Forbidden.ResourceNotFound", 404)
	_, err = getSecretValue(srv, c, "acr-pull", "v9", "")
	serverError(t, err, "Forbidden.ResourceNotFound", 404)
	_, err = putSecretValue(srv, c, "nope", "v1", "x")
	serverError(t, err, "Forbidden.ResourceNotFound", 404)

	srv.CreateKMSSecret("cn-hangzhou", "bin", "AAEC", true)
	if resp, err := getSecretValue(srv, c, "bin", "", ""); err != nil || resp.SecretDataType != "binary" {
		t.Errorf("binary secret: %v type %q", err, resp.SecretDataType)
	}

	for _, cl := range srv.Calls() {
		if cl.Product != "kms" || !strings.HasPrefix(cl.Permission(), "kms:") || cl.SecurityToken != stsCred.SecurityToken {
			t.Errorf("recorded %s as product %q", cl.Action, cl.Product)
		}
	}
}

// Faults of product kms answer KMS's own codes; a bad signature is refused.
func TestKMSFaultsAndSignature(t *testing.T) {
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}})
	srv.CreateKMSSecret("cn-hangzhou", "s", `{}`, false)
	c := kmsClient(t, stsCred)

	srv.SetFault("kms", emulator.Fault{Throttle: 1, Fail: 2, FailStatus: 503})
	_, err := getSecretValue(srv, c, "s", "", "")
	serverError(t, err, "Rejected.Throttling", 429)
	_, err = putSecretValue(srv, c, "s", "v2", "x")
	serverError(t, err, "ServiceUnavailableTemporary", 503)
	srv.SetFault("kms", emulator.Fault{Fail: 1})
	_, err = getSecretValue(srv, c, "s", "", "")
	serverError(t, err, "InternalFailure", 500)
	if _, err := getSecretValue(srv, c, "s", "", ""); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
	// ACR's calls at the same address are not KMS's faults.
	srv.AddInstance(emulator.Instance{ID: "cri-x"})
	srv.SetFault("kms", emulator.Fault{Throttle: 1})
	if _, err := getToken(srv, crClient(t, stsCred), "cri-x"); err != nil {
		t.Errorf("cr call under a kms fault: %v", err)
	}

	bad := emulator.Credential{AccessKeyID: stsCred.AccessKeyID, AccessKeySecret: "wrong", SecurityToken: stsCred.SecurityToken}
	srv.ClearFaults()
	_, err = putSecretValue(srv, kmsClient(t, bad), "s", "v2", `{"auths":{}}`)
	serverError(t, err, "SignatureDoesNotMatch", 400)
	if v, _ := srv.KMSSecret("cn-hangzhou", "s"); v.ID != "v1" {
		t.Errorf("a refused put was stored: current %q", v.ID)
	}
}
