package port

import (
	"context"
	"errors"
	"time"
)

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
	// Describe names the secret in messages ("kms secret \"acr-pull\" in
	// cn-hangzhou"): Where().Describe() for most stores.
	Describe() string
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
	// the retry rule weigh it beside the engine's own memory.
	Changed time.Time
	// Consumers are the applications that use the secret, for stores that
	// know them (SAE's RelateApps): non-nil, even when empty, for those.
	Consumers []Consumer
	// Handle is the adapter's own state for a later Write or ReadBack.
	Handle any
}

// Consumer is one user of a secret that its store knows (SAE: an
// application of RelateApps): an id and a name.
type Consumer struct {
	ID   string
	Name string
}
