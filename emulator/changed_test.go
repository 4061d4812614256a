package emulator_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1/model"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// Each store's record of a secret's last change, as the references
// document it (docs/cloud-apis.md): KMS GetSecretValue's CreateTime, an
// RFC 3339 UTC string in whole seconds ("2024-02-21T15:39:26Z"), of the
// version answered; CSMS version_metadata.create_time of the version, in
// milliseconds as the reference's examples give it. A new version moves
// both. (SAE's UpdateTime: TestSAERoundTrip and TestDirectState.)
func TestChangeTimes(t *testing.T) {
	rfc3339UTC := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}})
	srv.CreateKMSSecret("cn-hangzhou", "acr-pull", `{"auths":{}}`, false)
	c := kmsClient(t, stsCred)
	if _, err := putSecretValue(srv, c, "acr-pull", "v2", `{"n":2}`); err != nil {
		t.Fatal(err)
	}
	vs := srv.KMSVersions("cn-hangzhou", "acr-pull")
	for _, v := range vs {
		resp, err := getSecretValue(srv, c, "acr-pull", v.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if !rfc3339UTC.MatchString(resp.CreateTime) || resp.CreateTime != v.Created.UTC().Format(time.RFC3339) {
			t.Errorf("kms %s: CreateTime %q, want the version's creation %s", v.ID, resp.CreateTime, v.Created.UTC().Format(time.RFC3339))
		}
	}

	hw := csmsServer(t)
	cs := csmsClient(t, hw, nil, nil)
	show := func() int64 {
		t.Helper()
		got, err := cs.ShowSecretVersion(&model.ShowSecretVersionRequest{SecretName: "acr-pull", VersionId: "latest"})
		if err != nil || got.Version.VersionMetadata.CreateTime == nil {
			t.Fatalf("show: %v", err)
		}
		return *got.Version.VersionMetadata.CreateTime
	}
	first := show()
	if now := time.Now().UnixMilli(); first < now-60_000 || first > now {
		t.Errorf("csms create_time %d, want the version's creation in ms (now %d)", first, now)
	}
	v := `{"auths":{"r.example.com":{}}}`
	if _, err := cs.CreateSecretVersion(&model.CreateSecretVersionRequest{SecretName: "acr-pull", Body: &model.CreateSecretVersionRequestBody{SecretString: &v}}); err != nil {
		t.Fatal(err)
	}
	if second := show(); second <= first {
		t.Errorf("csms create_time %d after a new version, want later than %d", second, first)
	}
}
