// Package aliyun implements the rotator's cloud ports with the Alibaba Cloud
// Go SDK: SAE secrets (ROA) and the ACR Enterprise Edition token (RPC).
package aliyun

import (
	"github.com/sae-secret-rotator/rotator/internal/endpoint"
)

// Endpoint is where an API is reached; the zero value means the regional
// public endpoint over HTTPS.
type Endpoint = endpoint.Endpoint

// ParseEndpoint reads an override (see package endpoint); name is the
// variable named in errors.
func ParseEndpoint(name, value string) (Endpoint, error) {
	return endpoint.Parse(name, value, "https://sae-vpc.cn-hangzhou.aliyuncs.com")
}
