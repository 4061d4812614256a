package rotation

import (
	"context"
	"time"
)

// Credentials sign cloud API calls: in FC, the function role's STS
// credentials of the invocation.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Secret is an SAE secret as read.
type Secret struct {
	NamespaceID string
	ID          int64
	Name        string
	Type        string
	Data        map[string]string
	RelateApps  []App
}

// SecretStore reads and writes SAE secrets of one region.
type SecretStore interface {
	ListSecrets(ctx context.Context, namespaceID string) ([]Secret, error)
	DescribeSecret(ctx context.Context, namespaceID string, id int64) (Secret, error)
	UpdateSecret(ctx context.Context, namespaceID string, id int64, data map[string]string) error
}

// Token is a registry login minted by a source.
type Token struct {
	Username  string
	Password  string
	ExpiresAt time.Time
}

// TokenSource is one registry's credential source.
type TokenSource interface {
	// Domains lists the registry hosts the token is valid for.
	Domains(ctx context.Context) ([]string, error)
	// Token mints a new login.
	Token(ctx context.Context) (Token, error)
}

// Backend builds the cloud clients of one invocation from its credentials.
type Backend interface {
	SecretStore(creds Credentials, regionID string) SecretStore
	TokenSource(creds Credentials, src Source) TokenSource
}
