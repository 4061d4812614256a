package emulator_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr_ee"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/emulator"
)

const (
	nsProd    = "cn-hangzhou:prod"
	dockerCfg = "kubernetes.io/dockerconfigjson"
)

var stsCred = emulator.Credential{AccessKeyID: "STS.emulatorRole", AccessKeySecret: "sts-secret-not-real", SecurityToken: "sts-token-not-real"}

func startServer(t testing.TB, opts emulator.Options) *emulator.Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	srv, err := emulator.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func sdkCredential(c emulator.Credential) auth.Credential {
	if c.SecurityToken != "" {
		return credentials.NewStsTokenCredential(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)
	}
	return credentials.NewAccessKeyCredential(c.AccessKeyID, c.AccessKeySecret)
}

func saeClient(t testing.TB, c emulator.Credential) *sae.Client {
	t.Helper()
	client, err := sae.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP").WithTimeout(10*time.Second), sdkCredential(c))
	if err != nil {
		t.Fatalf("sae client: %v", err)
	}
	return client
}

func crClient(t testing.TB, c emulator.Credential) *cr_ee.Client {
	t.Helper()
	client, err := cr_ee.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP").WithTimeout(10*time.Second), sdkCredential(c))
	if err != nil {
		t.Fatalf("cr client: %v", err)
	}
	return client
}

// roa points an SAE request at the emulator: a host:port Domain breaks ROA URLs.
func roa(srv *emulator.Server, r *requests.RoaRequest) {
	r.Domain = srv.Host()
	r.Port = srv.Port()
	r.Scheme = "http"
}

// rpc points an ACR request at the emulator.
func rpc(srv *emulator.Server, r *requests.RpcRequest) {
	r.Domain = srv.RuntimeAPI()
	r.Scheme = "http"
}

func describe(srv *emulator.Server, c *sae.Client, ns string, id int64) (*sae.DescribeSecretResponse, error) {
	req := sae.CreateDescribeSecretRequest()
	roa(srv, req.RoaRequest)
	req.NamespaceId = ns
	req.SecretId = requests.NewInteger64(id)
	return saeAnswer(c.DescribeSecret(req))
}

func list(srv *emulator.Server, c *sae.Client, ns string) (*sae.ListSecretsResponse, error) {
	req := sae.CreateListSecretsRequest()
	roa(srv, req.RoaRequest)
	req.NamespaceId = ns
	return saeAnswer(c.ListSecrets(req))
}

func update(srv *emulator.Server, c *sae.Client, ns string, id int64, secretData string) (*sae.UpdateSecretResponse, error) {
	req := sae.CreateUpdateSecretRequest()
	roa(srv, req.RoaRequest)
	req.NamespaceId = ns
	req.SecretId = requests.NewInteger64(id)
	req.SecretData = secretData
	return saeAnswer(c.UpdateSecret(req))
}

func getToken(srv *emulator.Server, c *cr_ee.Client, instanceID string) (*cr_ee.GetAuthorizationTokenResponse, error) {
	req := cr_ee.CreateGetAuthorizationTokenRequest()
	rpc(srv, req.RpcRequest)
	req.InstanceId = instanceID
	return c.GetAuthorizationToken(req)
}

func listEndpoints(srv *emulator.Server, c *cr_ee.Client, instanceID string) (*cr_ee.ListInstanceEndpointResponse, error) {
	req := cr_ee.CreateListInstanceEndpointRequest()
	rpc(srv, req.RpcRequest)
	req.InstanceId = instanceID
	req.ModuleName = "Registry"
	return c.ListInstanceEndpoint(req)
}

// wrapped is the UpdateSecret SecretData form SAE accepts.
func wrapped(data map[string]string) string {
	inner, _ := json.Marshal(data)
	outer, _ := json.Marshal(map[string]string{"SecretData": string(inner)})
	return string(outer)
}

// plain is the unwrapped object form SAE refuses.
func plain(data map[string]string) string {
	b, _ := json.Marshal(data)
	return string(b)
}

func dockerData(user, pass string) map[string]string {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		"registry.cn-hangzhou.aliyuncs.com": map[string]string{"username": user, "password": pass, "auth": auth},
	}})
	return map[string]string{".dockerconfigjson": base64.StdEncoding.EncodeToString(cfg)}
}

func seedSecret(t testing.TB, srv *emulator.Server, ns, name string) int64 {
	t.Helper()
	id, err := srv.CreateSecret(emulator.Secret{
		NamespaceID: ns, Name: name, Type: dockerCfg, Data: dockerData("old-user", "old-pass"),
		RelateApps: []emulator.App{{AppID: "app-1", AppName: "web"}},
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	return id
}

// saeError is an SAE error answer in the shape SAE's reference gives it:
// the SDK reads its Code, which is the HTTP status; ErrorCode is the code.
type saeError struct {
	*sdkerrors.ServerError
	code string
}

// saeAnswer passes an SAE call's result on, its error as a saeError where
// the answer carries ErrorCode.
func saeAnswer[R interface{ GetHttpContentBytes() []byte }](resp R, err error) (R, error) {
	var se *sdkerrors.ServerError
	var body struct{ ErrorCode string }
	if errors.As(err, &se) && json.Unmarshal(resp.GetHttpContentBytes(), &body) == nil && body.ErrorCode != "" {
		return resp, &saeError{ServerError: se, code: body.ErrorCode}
	}
	return resp, err
}

// serverError asserts err is an *errors.ServerError with the code and
// status: the code in Code, or for SAE's own errors in ErrorCode with the
// status in Code.
func serverError(t testing.TB, err error, code string, status int) {
	t.Helper()
	if e, ok := err.(*saeError); ok {
		if e.code != code || e.HttpStatus() != status || e.ErrorCode() != strconv.Itoa(status) {
			t.Fatalf("want ErrorCode %s with Code %d (%d), got ErrorCode %s, Code %s (%d): %s", code, status, status, e.code, e.ErrorCode(), e.HttpStatus(), e.Message())
		}
		return
	}
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want ServerError %s (%d), got %T %v", code, status, err, err)
	}
	if se.ErrorCode() != code || se.HttpStatus() != status {
		t.Fatalf("want %s (%d), got %s (%d): %s", code, status, se.ErrorCode(), se.HttpStatus(), se.Message())
	}
}

// transportFunc lets a test tamper with the SDK's requests on the wire.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func itoaInteger(n int64) requests.Integer { return requests.NewInteger64(n) }

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
