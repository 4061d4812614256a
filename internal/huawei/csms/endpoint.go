package csms

import (
	"github.com/sae-secret-rotator/rotator/internal/endpoint"
)

// parseEndpoint reads ROTATOR_CSMS_ENDPOINT (package endpoint's rule) as
// the SDK's endpoint URL; "" means the regional default.
func parseEndpoint(value string) (string, error) {
	ep, err := endpoint.Parse(EnvEndpoint, value, "https://kms.cn-north-4.myhuaweicloud.com")
	if err != nil || !ep.Set() {
		return "", err
	}
	return ep.URL(), nil
}

// defaultEndpoint is CSMS's regional endpoint: CSMS is served by the KMS
// endpoint (services/csms/v1/region of the SDK).
func defaultEndpoint(region string) string {
	return "https://kms." + region + ".myhuaweicloud.com"
}
