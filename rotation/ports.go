package rotation

import "github.com/sae-secret-rotator/rotator/rotation/port"

// The engine's ports live in package port, which adapters import without
// the engine; these are the names the engine and its callers use for its
// core types. The optional capabilities (port.Resolver, port.SizeLimiter,
// ...) and the rest are named by their package.
type (
	Credentials  = port.Credentials
	Env          = port.Env
	StoreKind    = port.StoreKind
	SecretRef    = port.SecretRef
	Store        = port.Store
	Snapshot     = port.Snapshot
	Secret       = port.Secret
	Where        = port.Where
	SourceKind   = port.SourceKind
	SourceConfig = port.SourceConfig
	Source       = port.Source
	Domain       = port.Domain
	Token        = port.Token
	Prover       = port.Prover
	APIError     = port.APIError
)
