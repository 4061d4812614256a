package rotation

import (
	"errors"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

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

// errorf builds an *Error (port.Errorf); a %w verb keeps the cause reachable.
var errorf = port.Errorf

// CodeOf returns the report code of err, or "" when err carries none (port.CodeOf).
var CodeOf = port.CodeOf

// asError gives err its report code, fallback when it has none.
func asError(err error, fallback Code) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: fallback, Message: err.Error(), Err: err}
}

// configError gives an error opening a kind its code, InvalidConfig.
func configError(err error) error {
	if CodeOf(err) != "" {
		return err
	}
	return errorf(InvalidConfig, "%v", err)
}
