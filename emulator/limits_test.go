package emulator_test

import (
	"strings"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1/model"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// value is a JSON document of exactly n bytes.
func value(n int) string {
	const head, tail = `{"x":"`, `"}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// Each store refuses a value over its documented limit with its own error
// answer and keeps what it held; a value at the limit is stored.
func TestStoreSizeLimits(t *testing.T) {
	t.Run("kms 30720 bytes", func(t *testing.T) {
		srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}})
		srv.CreateKMSSecret("cn-hangzhou", "s", `{"auths":{}}`, false)
		c := kmsClient(t, stsCred)
		_, err := putSecretValue(srv, c, "s", "big", value(30721))
		serverError(t, err, "InvalidParameter", 400)
		if v, _ := srv.KMSSecret("cn-hangzhou", "s"); v.ID != "v1" {
			t.Errorf("the refused value became version %q", v.ID)
		}
		if _, err := putSecretValue(srv, c, "s", "at-limit", value(30720)); err != nil {
			t.Errorf("a value of 30720 bytes: %v", err)
		}
	})
	t.Run("csms 32768 bytes", func(t *testing.T) {
		srv := csmsServer(t)
		c := csmsClient(t, srv, nil, nil)
		big, ok := value(32769), value(32768)
		_, err := c.CreateSecretVersion(&model.CreateSecretVersionRequest{SecretName: "acr-pull", Body: &model.CreateSecretVersionRequestBody{SecretString: &big}})
		if se := serviceError(t, err); se.StatusCode != 400 || se.ErrorCode != "CSMS.0002" {
			t.Errorf("answer %d %s, want 400 CSMS.0002", se.StatusCode, se.ErrorCode)
		}
		if n := srv.CSMSVersions(csmsProject, "acr-pull"); n != 1 {
			t.Errorf("%d versions after a refused write", n)
		}
		if _, err := c.CreateSecretVersion(&model.CreateSecretVersionRequest{SecretName: "acr-pull", Body: &model.CreateSecretVersionRequestBody{SecretString: &ok}}); err != nil {
			t.Errorf("a value of 32768 bytes: %v", err)
		}
	})
	t.Run("ssm 4096 bytes", func(t *testing.T) {
		srv := startServer(t, emulator.Options{})
		srv.AddTencentCredential(tcKey)
		if err := srv.CreateSSMSecret("ap-guangzhou", "s", "current", `{"auths":{}}`, false); err != nil {
			t.Fatal(err)
		}
		c := ssmClient(srv, tcKey, nil)
		if err := updateText(c, "s", "current", value(4097)); tcCode(err) != "InvalidParameterValue" {
			t.Errorf("a value of 4097 bytes: %v, want InvalidParameterValue", err)
		}
		if v, _ := srv.SSMSecret("ap-guangzhou", "s", "current"); v != `{"auths":{}}` {
			t.Error("the refused value was stored")
		}
		if err := updateText(c, "s", "current", value(4096)); err != nil {
			t.Errorf("a value of 4096 bytes: %v", err)
		}
	})
}
