package rotation

import (
	"context"
	"errors"
	"time"
)

// The engine's ports. Adapters (one package per cloud or role) implement
// them; the engine never names a cloud API. Adding a store or a source adds
// a kind to the catalog the configuration is parsed with, not code here.

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
	Quota      Quota // the configuration's top-level quota (SAE's account quota)
}

// StoreKind is one kind of secret store that a secret's `store` names.
type StoreKind interface {
	Name() string
	// NewRef returns an empty configuration entry to decode into: a pointer
	// to a struct whose json tags are the entry's fields (besides `store`).
	NewRef() SecretRef
	// Open builds the store from the environment (endpoints, keys). An error
	// is a configuration error: nothing is read or written.
	Open(env Env) (Store, error)
}

// SecretRef is one configured secret of a store.
type SecretRef interface {
	// Validate checks the entry after decoding; errors name the field.
	Validate() error
	// Key is the same for two entries that name the same secret the same way.
	Key() string
	// Group names the secrets that one read returns together (SAE: a
	// namespace); a store that reads one secret a call returns Key().
	Group() string
	// Where names the secret in the report and the logs before it is read.
	Where() Where
}

// Store reads and writes one kind of secret store. Every call is one API
// call that the engine paces, retries and bounds by the deadline.
type Store interface {
	// Quota is what the store allows per window; the engine paces below it.
	Quota() Quota
	// Read reads the group of ref in one call.
	Read(ctx context.Context, creds Credentials, ref SecretRef) (Snapshot, error)
	// Write stores config as sec's docker config, keeping sec.Rest, and
	// returns the version it made or overwrote ("" where the store has none).
	Write(ctx context.Context, creds Credentials, sec Secret, config []byte) (version string, err error)
	// ReadBack reads sec again, unbatched, to verify a write of version.
	ReadBack(ctx context.Context, creds Credentials, sec Secret, version string) (Secret, error)
}

// Snapshot is the result of one read.
type Snapshot interface {
	// Find picks ref's secret. An error is the secret's failure
	// (SecretNotFound, UnsupportedSecretType, CorruptSecretData), a
	// *Resolved or ErrMoved; the returned Secret's Where and ID are filled
	// as far as they are known.
	Find(ref SecretRef) (Secret, error)
}

// Resolved is what Find returns for a secret that its group's read named
// but whose value it did not carry (SAE's ListSecrets answers metadata
// only): the engine reads the secret again with Ref, a group of its own,
// before anything is merged. Each of those reads is one paced call.
type Resolved struct{ Ref SecretRef }

func (r *Resolved) Error() string { return "the read named the secret without its value" }

// ErrMoved is what Find returns on a read by a resolved ref (Resolved,
// Resolver) whose secret no longer answers to the name it was resolved
// from: the engine resolves the name again with a new read of the group.
var ErrMoved = errors.New("the secret no longer answers to the name it was resolved from")

// Resolver is an optional capability of a Store whose group reads may only
// resolve names (see Resolved). ReadAlone returns the ref that reads ref's
// secret on its own, without a group read first, when the store knows it
// (a name this process resolved before: the read confirms it, or Find says
// ErrMoved), and false when the group is to be read.
type Resolver interface {
	ReadAlone(ref SecretRef) (SecretRef, bool)
}

// SizeLimiter is an optional capability of a Store with a documented limit
// on the value it stores. CheckSize is consulted after the merge, before
// the write takes a pacer slot: a ValueTooLarge error fails the secret
// with nothing sent. The limit and its source live in the adapter.
type SizeLimiter interface {
	CheckSize(sec Secret, config []byte) error
}

// Secret is one secret as read, with its docker config unwrapped.
type Secret struct {
	Where Where
	// ID identifies the secret across refs (by name or id) for locks and
	// the cooldown.
	ID string
	// Config is the docker config document ({"auths":{...}}).
	Config []byte
	// Rest is what the store holds beside the config (SAE: the other
	// SecretData keys); a write keeps it and verification checks it.
	Rest    map[string]string
	Version string
	// Changed is the store's own record of when the secret last changed
	// (its update time, or the creation time of the version read, as the
	// adapter maps it), from the read itself: no call is made for it. Zero
	// means unknown (the store keeps none, the answer lacks it, or it does
	// not parse): never "long ago", and never "now". The event cooldown and
	// the retry rule weigh it beside this instance's memory (lastChange).
	Changed time.Time
	// Consumers are the applications that use the secret, for stores that
	// know them (SAE's RelateApps): non-nil, even when empty, for those.
	Consumers []App
	// Handle is the adapter's own state for a later Write or ReadBack.
	Handle any
}

// Where names a secret in the report and the logs.
type Where struct {
	Store       string `json:"store"`
	Region      string `json:"region,omitempty"`
	NamespaceID string `json:"namespaceId,omitempty"`
	SecretID    int64  `json:"secretId,omitempty"`
	SecretName  string `json:"secretName,omitempty"`
}

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
	// Matches reports whether a registry event names this source; sources
	// without an instance match none.
	Matches(ev RegistryEvent) bool
	// Describe names the source in logs ("acr-ee cri-abc123").
	Describe() string
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
// that the credential can pull it. Its errors may say Rejected() bool: the
// registry refused the credential, or the pull found nothing it may pull.
type Prover interface {
	Login(ctx context.Context, domain, username, password, repository string) error
}

// APIError is a failed call as an adapter reports it. The engine decides
// on retries from it and words the report from it.
type APIError interface {
	error                  // names the call, the HTTP status and the code; never the server's message
	ErrorCode() string     // the API's code; "" for transport errors
	HTTPStatus() int       // 0 when no answer came
	Throttled() bool       // the API's throttling answer
	Transient() bool       // HTTP 5xx, transport error or timeout: worth retrying
	ServerMessage() string // the server's own words, which may quote the request: redacted before use
}
