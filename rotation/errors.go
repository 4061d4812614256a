package rotation

import "github.com/sae-secret-rotator/rotator/rotation/port"

// The report's failure codes are defined once, in package port, where the
// adapters that return them find them; the engine and its callers name
// them here.
type (
	// Code is a failure code of the report (port.Code).
	Code = port.Code
	// Error carries the report's code with a message safe to print (port.Error).
	Error = port.Error
)

// The failure codes of the report (docs/report.md).
const (
	InvalidEvent           = port.InvalidEvent
	InvalidConfig          = port.InvalidConfig
	UnknownTarget          = port.UnknownTarget
	SecretNotFound         = port.SecretNotFound
	UnsupportedSecretType  = port.UnsupportedSecretType
	CorruptSecretData      = port.CorruptSecretData
	ValueTooLarge          = port.ValueTooLarge
	CredentialSourceFailed = port.CredentialSourceFailed
	CredentialRejected     = port.CredentialRejected
	UpdateFailed           = port.UpdateFailed
	VerificationFailed     = port.VerificationFailed
	Throttled              = port.Throttled
	DeadlineExceeded       = port.DeadlineExceeded
)

// AllCodes lists every failure code, for the docs' completeness test.
var AllCodes = port.AllCodes

// errorf builds an *Error; a %w verb keeps the cause reachable.
func errorf(code Code, format string, args ...any) *Error { return port.Errorf(code, format, args...) }

// CodeOf returns the report code of err, or "" when err carries none.
func CodeOf(err error) Code { return port.CodeOf(err) }
