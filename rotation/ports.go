package rotation

import "github.com/sae-secret-rotator/rotator/rotation/port"

// The engine's ports live in package port, which adapters import without
// the engine; these are the names the engine and its callers use for them.
type (
	Credentials   = port.Credentials
	Env           = port.Env
	StoreKind     = port.StoreKind
	SecretRef     = port.SecretRef
	Store         = port.Store
	Snapshot      = port.Snapshot
	Resolved      = port.Resolved
	Resolver      = port.Resolver
	SizeLimiter   = port.SizeLimiter
	Secret        = port.Secret
	App           = port.App
	Where         = port.Where
	SourceKind    = port.SourceKind
	SourceConfig  = port.SourceConfig
	RegistryEvent = port.RegistryEvent
	Source        = port.Source
	Domain        = port.Domain
	Token         = port.Token
	Prover        = port.Prover
	APIError      = port.APIError
)

// ErrMoved is port.ErrMoved.
var ErrMoved = port.ErrMoved
