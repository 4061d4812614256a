package emulator_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sts"

	"github.com/sae-secret-rotator/rotator/emulator"
)

const minter = "acs:ram::1234567890123456:role/acr-token-minter"

func personalToken(t testing.TB, srv *emulator.Server, c emulator.Credential) (user, token string, expires time.Time, err error) {
	t.Helper()
	cl, err := cr.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP").WithTimeout(10*time.Second), sdkCredential(c))
	if err != nil {
		t.Fatal(err)
	}
	req := cr.CreateGetAuthorizationTokenRequest()
	roa(srv, req.RoaRequest)
	resp, err := cl.GetAuthorizationToken(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	var body struct {
		Data struct {
			AuthorizationToken string `json:"authorizationToken"`
			TempUserName       string `json:"tempUserName"`
			ExpireDate         int64  `json:"expireDate"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &body); err != nil {
		t.Fatalf("the body is not JSON: %v", err)
	}
	return body.Data.TempUserName, body.Data.AuthorizationToken, time.UnixMilli(body.Data.ExpireDate), nil
}

func assumeRole(t testing.TB, srv *emulator.Server, c emulator.Credential, arn string, seconds int) (*sts.AssumeRoleResponse, error) {
	t.Helper()
	cl, err := sts.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP").WithTimeout(10*time.Second), sdkCredential(c))
	if err != nil {
		t.Fatal(err)
	}
	req := sts.CreateAssumeRoleRequest()
	rpc(srv, req.RpcRequest)
	req.RoleArn = arn
	req.RoleSessionName = "secret-rotator"
	if seconds > 0 {
		req.DurationSeconds = requests.NewInteger(seconds)
	}
	return cl.AssumeRole(req)
}

// A Personal Edition token: the real body shape, recorded as the RAM action
// cr:GetAuthorizationToken, accepted by the registry, an hour long.
func TestPersonalGetAuthorizationToken(t *testing.T) {
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}})
	start := time.Now()
	user, tok, exp, err := personalToken(t, srv, stsCred)
	if err != nil {
		t.Fatal(err)
	}
	if user != "cr_temp_user" || tok == "" {
		t.Fatalf("username %q, token empty: %v", user, tok == "")
	}
	if exp.Before(start.Add(time.Hour-time.Second)) || exp.After(time.Now().Add(time.Hour)) {
		t.Errorf("expireDate %v is not an hour away", exp)
	}
	toks := srv.Tokens()
	if len(toks) != 1 || toks[0].Password != tok || toks[0].InstanceID != emulator.PersonalInstanceID("cn-hangzhou") || toks[0].AccessKeyID != stsCred.AccessKeyID {
		t.Fatalf("recorded tokens: %d, instance %q", len(toks), toks[0].InstanceID)
	}
	c := srv.Calls()[0]
	if c.Permission() != "cr:GetAuthorizationToken" || c.Method != "GET" || c.Path != "/tokens" || c.Status != 200 {
		t.Errorf("recorded call: %s %s %s %d", c.Permission(), c.Method, c.Path, c.Status)
	}
	// A wrong signature is refused like any ROA call.
	_, _, _, err = personalToken(t, srv, emulator.Credential{AccessKeyID: stsCred.AccessKeyID, AccessKeySecret: "wrong", SecurityToken: stsCred.SecurityToken})
	serverError(t, err, "SignatureDoesNotMatch", 400)
}

// AssumeRole issues credentials that sign until they expire; tokens minted
// with them expire with them; unknown roles and callers the role does not
// trust are refused.
func TestAssumeRole(t *testing.T) {
	other := emulator.Credential{AccessKeyID: "LTAIother", AccessKeySecret: "other-secret-value"}
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred, other}})
	srv.AddRole(minter, stsCred.AccessKeyID)
	srv.AddInstance(emulator.Instance{ID: "cri-1", RegionID: "cn-hangzhou"})

	tests := []struct {
		name    string
		caller  emulator.Credential
		arn     string
		seconds int
		code    string
		status  int
	}{
		{"trusted caller", stsCred, minter, 3600, "", 200},
		{"shorter session", stsCred, minter, 900, "", 200},
		{"unknown role", stsCred, "acs:ram::1234567890123456:role/nobody", 3600, "EntityNotExist.Role", 404},
		{"caller not trusted", other, minter, 3600, "NoPermission", 403},
		{"too long", stsCred, minter, 7200, "InvalidParameter.DurationSeconds", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, err := assumeRole(t, srv, tc.caller, tc.arn, tc.seconds)
			if tc.code != "" {
				serverError(t, err, tc.code, tc.status)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cr := resp.Credentials
			exp, err := time.Parse(time.RFC3339, cr.Expiration)
			want := start.Add(time.Duration(tc.seconds) * time.Second)
			if err != nil || exp.Before(want.Add(-2*time.Second)) || exp.After(want.Add(time.Second)) {
				t.Errorf("Expiration %q, want about %v", cr.Expiration, want)
			}
			got := emulator.Credential{AccessKeyID: cr.AccessKeyId, AccessKeySecret: cr.AccessKeySecret, SecurityToken: cr.SecurityToken}
			// The session signs; the token it mints expires with it.
			tok, err := getToken(srv, crClient(t, got), "cri-1")
			if err != nil {
				t.Fatalf("minting with the session: %v", err)
			}
			if d := time.UnixMilli(tok.ExpireTime).Sub(exp); d > 0 || d < -time.Second {
				t.Errorf("the token expires %v after the session", d)
			}
		})
	}
	issued := srv.AssumedCredentials()
	if len(issued) != 2 || issued[0].Expires.IsZero() {
		t.Fatalf("%d credentials issued", len(issued))
	}
	if c := srv.Calls()[0]; c.Permission() != "sts:AssumeRole" || c.Query.Get("RoleArn") != minter {
		t.Errorf("recorded call: %s", c.Permission())
	}
}

// Credentials past their Expires are refused; a token minted with
// credentials that expire before the token's TTL is cut short to them.
func TestExpiringCredentials(t *testing.T) {
	short := emulator.Credential{AccessKeyID: "STS.short", AccessKeySecret: "short-secret-value", SecurityToken: "short-token-value",
		Expires: time.Now().Add(15 * time.Minute)}
	gone := emulator.Credential{AccessKeyID: "STS.gone", AccessKeySecret: "gone-secret-value", SecurityToken: "gone-token-value",
		Expires: time.Now().Add(-time.Second)}
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{short, gone}})
	srv.AddInstance(emulator.Instance{ID: "cri-1", RegionID: "cn-hangzhou"})

	tok, err := getToken(srv, crClient(t, short), "cri-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := time.UnixMilli(tok.ExpireTime); got.After(short.Expires) || got.Before(short.Expires.Add(-time.Second)) {
		t.Errorf("EE token expires %v, want the credential's %v", got, short.Expires)
	}
	_, _, exp, err := personalToken(t, srv, short)
	if err != nil {
		t.Fatal(err)
	}
	if exp.After(short.Expires) || exp.Before(short.Expires.Add(-time.Second)) {
		t.Errorf("personal token expires %v, want the credential's %v", exp, short.Expires)
	}
	_, err = getToken(srv, crClient(t, gone), "cri-1")
	serverError(t, err, "InvalidSecurityToken.Expired", 400)
	_, _, _, err = personalToken(t, srv, gone)
	serverError(t, err, "InvalidSecurityToken.Expired", 400)
}
