package emulator_test

import (
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr_ee"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// Point the real SDK clients at the emulator: ROA requests (SAE) need Domain
// and Port separately, RPC requests (ACR) accept "host:port".
func Example() {
	srv, err := emulator.Start(emulator.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	id, _ := srv.CreateSecret(emulator.Secret{NamespaceID: "cn-hangzhou:prod", Name: "acr-pull",
		Type: "kubernetes.io/dockerconfigjson", Data: map[string]string{".dockerconfigjson": "e30="}})
	srv.AddInstance(emulator.Instance{ID: "cri-example"})

	cred := credentials.NewAccessKeyCredential(emulator.DefaultCredential.AccessKeyID, emulator.DefaultCredential.AccessKeySecret)
	saeClient, _ := sae.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), cred)
	upd := sae.CreateUpdateSecretRequest()
	upd.Domain, upd.Port, upd.Scheme = "127.0.0.1", srv.Port(), "http"
	upd.NamespaceId, upd.SecretId = "cn-hangzhou:prod", requests.NewInteger64(id)
	upd.SecretData = `{"SecretData":"{\".dockerconfigjson\":\"eyJhdXRocyI6e319\"}"}`
	if _, err := saeClient.UpdateSecret(upd); err != nil {
		panic(err)
	}

	crClient, _ := cr_ee.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), cred)
	tok := cr_ee.CreateGetAuthorizationTokenRequest()
	tok.Domain, tok.Scheme = srv.RuntimeAPI(), "http"
	tok.InstanceId = "cri-example"
	resp, err := crClient.GetAuthorizationToken(tok)
	if err != nil {
		panic(err)
	}

	stored, _ := srv.Secret("cn-hangzhou:prod", id)
	fmt.Println(stored.Data[".dockerconfigjson"], resp.TempUsername, len(srv.Tokens()))
	for _, c := range srv.Calls() {
		fmt.Println(c.Permission(), c.Status)
	}
	// Output:
	// eyJhdXRocyI6e319 cr_temp_user 1
	// sae:UpdateSecret 200
	// cr:GetAuthorizationToken 200
}
