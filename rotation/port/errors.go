package port

import (
	"errors"
	"fmt"
)

// Code is a failure code of the report. The set is part of the contract.
type Code string

// The failure codes of the report (docs/report.md).
const (
	InvalidEvent           Code = "InvalidEvent"
	InvalidConfig          Code = "InvalidConfig"
	UnknownTarget          Code = "UnknownTarget"
	SecretNotFound         Code = "SecretNotFound"
	UnsupportedSecretType  Code = "UnsupportedSecretType"
	CorruptSecretData      Code = "CorruptSecretData"
	ValueTooLarge          Code = "ValueTooLarge"
	CredentialSourceFailed Code = "CredentialSourceFailed"
	CredentialRejected     Code = "CredentialRejected"
	UpdateFailed           Code = "UpdateFailed"
	VerificationFailed     Code = "VerificationFailed"
	Throttled              Code = "Throttled"
	DeadlineExceeded       Code = "DeadlineExceeded"
)

// AllCodes lists every failure code, for the docs' completeness test.
var AllCodes = []Code{InvalidEvent, InvalidConfig, UnknownTarget, SecretNotFound, UnsupportedSecretType, CorruptSecretData,
	ValueTooLarge, CredentialSourceFailed, CredentialRejected, UpdateFailed, VerificationFailed, Throttled, DeadlineExceeded}

// Error carries the report's code with a message that is safe to print:
// messages are built by this module and never hold credential material.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, for errors.Is/As; its text is already in Message
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error: an adapter's verdict on a secret (not found, of
// another type, corrupt, too large) or the engine's. Its message must hold
// no secret and no server text; a %w verb keeps the cause reachable.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// CodeOf returns the report code of err, or "" when err carries none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
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
