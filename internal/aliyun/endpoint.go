// Package aliyun implements the rotator's cloud ports with the Alibaba Cloud
// Go SDK: SAE secrets (ROA) and the ACR Enterprise Edition token (RPC).
package aliyun

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Environment variables that override the SDK's regional endpoints.
const (
	EnvSAEEndpoint = "ROTATOR_SAE_ENDPOINT"
	EnvCREndpoint  = "ROTATOR_CR_ENDPOINT"
)

// Endpoint is where an API is reached. The zero value means the regional
// public endpoint over HTTPS.
type Endpoint struct {
	Scheme string // "https" or "http"
	Host   string
	Port   string // "" for the scheme's default
}

func (e Endpoint) set() bool { return e.Host != "" }

// ParseEndpoint reads an override: a bare host (HTTPS) or a URL with scheme
// and port. Plain http is refused unless the host is a loopback address,
// so credentials never cross a network in clear text. name is the variable
// named in errors.
func ParseEndpoint(name, value string) (Endpoint, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return Endpoint{}, nil
	}
	if !strings.Contains(value, "://") {
		value = "https://" + value
	}
	u, err := url.Parse(value)
	if err != nil || u.Hostname() == "" {
		return Endpoint{}, fmt.Errorf("%s: %q is not a host or a URL such as https://sae-vpc.cn-hangzhou.aliyuncs.com", name, value)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return Endpoint{}, fmt.Errorf("%s: give a host and port only, without path, query or user", name)
	}
	ep := Endpoint{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname(), Port: u.Port()}
	switch ep.Scheme {
	case "https":
	case "http":
		if !isLoopback(ep.Host) {
			return Endpoint{}, fmt.Errorf("%s: plain http is accepted for loopback addresses only, not %q: use https", name, ep.Host)
		}
	default:
		return Endpoint{}, fmt.Errorf("%s: scheme %q is not http or https", name, ep.Scheme)
	}
	return ep, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
