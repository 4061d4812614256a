// Package port holds the rotator's ports: everything a secret store, a
// credential source or a registry prover implements or returns, and nothing
// of the engine, so that adapters (one package per cloud) import this
// package and never the engine, as database/sql drivers import
// database/sql/driver. The engine (package rotation) consumes them.
//
// An adapter implements StoreKind or SourceKind, whose Open returns a Store
// or a Source; the optional capabilities (capabilities.go) are the named
// interfaces an adapter may add. Its failed calls are *CallError values,
// classified by the adapter from its cloud's codes; its verdicts on a secret
// are *Error values with the report's Code.
package port

import (
	"regexp"
	"time"
)

// Credentials are the function's own cloud credentials for one invocation:
// in FC, the function role's STS credentials that the runtime passes.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Env is what a kind may read when it is opened once per process.
type Env struct {
	Getenv     func(string) string
	APITimeout time.Duration
	// Quota is the quota the configuration sets (its top-level `quota`),
	// for stores that let the user set theirs rather than state their own.
	Quota Quota
}

// Quota is an API call budget: Calls per Per. Zero Calls means no quota.
type Quota struct {
	Calls int
	Per   time.Duration
}

var regionID = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)

// ValidRegion reports whether s looks like a cloud region id ("cn-hangzhou").
func ValidRegion(s string) bool { return regionID.MatchString(s) }

// Printable reports whether s is non-empty, printable ASCII without spaces
// and of a length a Kubernetes-style name or a host can have.
func Printable(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
