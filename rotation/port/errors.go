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

// CallError is a failed API call of an adapter: the one error type the
// adapters share, an APIError. It is worded without request data (an SDK's
// error texts can carry the URL, the string to sign or the body, which hold
// the request's parameters) and keeps the server's message apart, for
// ServerMessage only. The adapter that builds it classifies it from its
// cloud's codes (Throttle, Fault, Unsent); which codes mean a missing
// secret stays the adapter's too (HasCode).
type CallError struct {
	Product   string // "sae", "kms", "cr", "sts", "csms", "ssm"
	Action    string // the API called ("UpdateSecret")
	Status    int    // HTTP status; 0 when no (complete) answer came
	Code      string // the API's error code; "" when no answer came
	Detail    string // the adapter's own words (a transport failure)
	Server    string // the server's message: it may quote the request
	RequestID string // the server's request id, where the adapter keeps it

	Throttle bool // the cloud's throttling answer
	Fault    bool // the cloud's own failure under a status below 500: retried as a 5xx is
	Unsent   bool // failed before anything was sent: not worth retrying
}

func (e *CallError) Error() string {
	msg := e.Product + " " + e.Action + ": "
	switch {
	case e.Status == 0:
		msg += e.Detail
	case e.Detail != "":
		msg += fmt.Sprintf("HTTP %d %s (%s)", e.Status, e.Code, e.Detail)
	default:
		msg += fmt.Sprintf("HTTP %d %s", e.Status, e.Code)
	}
	if e.RequestID != "" {
		msg += " [RequestId " + e.RequestID + "]"
	}
	return msg
}

// ErrorCode implements APIError.
func (e *CallError) ErrorCode() string { return e.Code }

// HTTPStatus implements APIError.
func (e *CallError) HTTPStatus() int { return e.Status }

// Throttled implements APIError.
func (e *CallError) Throttled() bool { return e.Throttle }

// Transient implements APIError: no answer, HTTP 5xx, or the cloud's own
// failure (Fault); never a call that was not sent.
func (e *CallError) Transient() bool {
	return !e.Unsent && (e.Status == 0 || e.Status >= 500 || e.Fault)
}

// ServerMessage implements APIError.
func (e *CallError) ServerMessage() string { return e.Server }

// HasCode reports whether the API answered one of codes.
func (e *CallError) HasCode(codes ...string) bool {
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}
