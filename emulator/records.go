package emulator

import (
	"net/url"
	"time"
)

// App is an SAE application that uses a secret.
type App struct{ AppID, AppName string }

// Secret is an SAE secret.
type Secret struct {
	NamespaceID string
	ID          int64
	Name, Type  string
	Data        map[string]string // SecretData, e.g. {".dockerconfigjson": base64(json)}
	RelateApps  []App
	CreateTime  int64 // ms
	UpdateTime  int64 // ms
}

// Endpoint is one ACR EE Registry endpoint of an instance.
type Endpoint struct {
	Type    string // "internet" | "vpc"
	Enabled bool
	Domains []string // the first is reported as Type SYSTEM, the others as USER
}

// Instance is an ACR Enterprise Edition instance.
//
// When Endpoints is nil, AddInstance gives the instance an enabled internet
// endpoint "<ID>-registry.<RegionID>.cr.aliyuncs.com" and an enabled vpc
// endpoint "<ID>-registry-vpc.<RegionID>.cr.aliyuncs.com" (RegionID defaults
// to cn-hangzhou). Pass a non-nil empty slice for an instance without
// endpoints.
type Instance struct {
	ID, RegionID string
	Endpoints    []Endpoint
	TokenTTL     time.Duration // default 1h
}

// Token is one temporary registry credential minted by GetAuthorizationToken.
type Token struct {
	InstanceID, Username, Password string
	ExpiresAt                      time.Time
	AccessKeyID                    string // the signer of the GetAuthorizationToken call
}

// Call is one cloud or registry request as the emulator saw it.
type Call struct {
	Time    time.Time
	Product string // "sae" | "cr" | "kms" | "sts" | "csms" | "ssm" | "registry" (FC runtime API calls are NOT recorded here)
	Action  string // the API's action (DescribeSecret, UpdateSecret, GetSecretValue, ShowSecretVersion, ...)
	Method  string
	Path    string
	// Query holds the request parameters (for RPC, query and form merged;
	// the Signature parameter is left out). For UpdateSecret it holds the
	// credential: never print Calls in test failure output.
	Query url.Values
	// AccessKeyID and SecurityToken are as presented by the caller (also
	// when refused). For a registry Token call that presented a minted
	// credential, AccessKeyID is the key that minted it: RAM judges its
	// minter.
	AccessKeyID, SecurityToken string
	Status                     int    // HTTP status answered; 0 while unanswered or when never answered (Hang, client gone)
	Code                       string // error code answered, "" on success
}

// Permission is the RAM action the call needs, e.g. "sae:UpdateSecret" or
// "cr:GetAuthorizationToken".
func (c Call) Permission() string { return c.Product + ":" + c.Action }

// Fault describes misbehaviour injected into matching calls. See SetFault.
type Fault struct {
	Throttle   int           // the next N matching calls answer 400 Throttling.User
	Fail       int           // the next N matching calls answer FailStatus (default 500) with a 5xx error body
	FailStatus int           // used as given when set
	Latency    time.Duration // added before answering every matching call
	Hang       bool          // accept the request and never answer (until the client goes away or Close)
	DropWrites int           // UpdateSecret: the next N writes answer success but are not stored
	LagReads   int           // DescribeSecret/ListSecrets: after each stored write, the next N reads of that secret still show the data from before the write
	// Echo: the next N matching calls answer 400 InvalidParameter.WithMessage
	// quoting the request's parameters and security token, cut to EchoCut
	// characters (0: whole), as a server that quotes what it was sent does.
	Echo, EchoCut int
}

func (f Fault) zero() bool { return f == Fault{} }
