package csms

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// parseEndpoint reads ROTATOR_CSMS_ENDPOINT: a bare host (HTTPS) or a URL
// with scheme and port, returned as the SDK's endpoint URL. Plain http is
// refused unless the host is a loopback address, so the signed requests
// and the values they carry never cross a network in clear text.
func parseEndpoint(value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", nil
	}
	if !strings.Contains(value, "://") {
		value = "https://" + value
	}
	u, err := url.Parse(value)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("%s: not a host or a URL such as https://kms.cn-north-4.myhuaweicloud.com", EnvEndpoint)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%s: give a host and port only, without path, query or user", EnvEndpoint)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("%s: plain http is accepted for loopback addresses only, not %q: use https", EnvEndpoint, u.Hostname())
		}
	default:
		return "", fmt.Errorf("%s: scheme %q is not http or https", EnvEndpoint, u.Scheme)
	}
	return scheme + "://" + u.Host, nil
}

// defaultEndpoint is CSMS's regional endpoint: CSMS is served by the KMS
// endpoint (services/csms/v1/region of the SDK).
func defaultEndpoint(region string) string {
	return "https://kms." + region + ".myhuaweicloud.com"
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
