package port

import (
	"context"
	"encoding/json"
	"time"
)

// SourceKind is one kind of credential source that a target's
// `source.type` names.
type SourceKind interface {
	Name() string
	// NewConfig returns an empty configuration to decode into (a pointer to
	// a struct with json tags; `type`, `loginCheck` and `probeRepository`
	// are the engine's).
	NewConfig() SourceConfig
	Open(env Env) (Source, error)
}

// SourceConfig is one configured source.
type SourceConfig interface {
	Validate() error
	// Key is the same for two sources that mint interchangeable tokens: one
	// token a key per invocation.
	Key() string
	// Matches reports whether an event names this source (an ACR EE
	// instance's event names its instance in its data); sources that no
	// event names match none.
	Matches(ev Event) bool
	// Describe names the source in logs ("acr-ee cri-abc123").
	Describe() string
}

// Event is an EventBridge CloudEvent as the sources see it: its id,
// source and type attributes, and its data as it came (absent: nil). The
// engine reads no more of it; a source's Matches reads the data it knows.
type Event struct {
	ID, Source, Type string
	Data             json.RawMessage
}

// Source mints registry credentials, as go-containerregistry's Keychain
// resolves them: a login, its expiry and the registries it is for.
type Source interface {
	// Domains lists the registry hosts of the source, public ones first.
	Domains(ctx context.Context, creds Credentials, cfg SourceConfig) ([]Domain, error)
	// Mint returns a new login.
	Mint(ctx context.Context, creds Credentials, cfg SourceConfig) (Token, error)
}

// Domain is one registry host of a source.
type Domain struct {
	Host    string
	Private bool // reachable from a VPC only: tried after public ones
}

// Token is a registry login minted by a source.
type Token struct {
	Username  string
	Password  string
	ExpiresAt time.Time
}

// Prover logs in to a registry with a credential, as docker login does, or,
// given a repository (a source's probeRepository, namespace/name), proves
// that the credential can pull it. Its errors may be a Rejection: the
// registry refused the credential, or the pull found nothing it may pull.
type Prover interface {
	Login(ctx context.Context, domain, username, password, repository string) error
}
