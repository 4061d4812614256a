package rotation

import (
	"errors"
	"fmt"
	"testing"
)

// apiErr is an adapter's failed call, as the APIError port describes it.
type apiErr struct {
	status    int
	code      string
	throttled bool
}

func (e apiErr) Error() string         { return fmt.Sprintf("HTTP %d %s", e.status, e.code) }
func (e apiErr) ErrorCode() string     { return e.code }
func (e apiErr) HTTPStatus() int       { return e.status }
func (e apiErr) Throttled() bool       { return e.throttled }
func (e apiErr) Transient() bool       { return e.status == 0 || e.status >= 500 }
func (e apiErr) ServerMessage() string { return "" }

// Which failed writes may have been stored (and count as written for the
// freshness and lagging-read rules): all but a definite refusal.
func TestMayHaveLanded(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"answered success", nil, true},
		{"no answer", apiErr{status: 0}, true},
		{"server error", apiErr{status: 503, code: "ServiceUnavailable"}, true},
		{"wrapped server error", fmt.Errorf("write: %w", apiErr{status: 500}), true},
		{"refused", apiErr{status: 400, code: "InvalidParameter"}, false},
		{"throttled", apiErr{status: 400, code: "Throttling.User", throttled: true}, false},
		{"a 2xx saying it failed", apiErr{status: 200, code: "UnknownError"}, false},
		{"the adapter's verdict", errorf(SecretNotFound, "gone"), false},
		{"an error without an answer's status", errors.New("connection reset"), true},
	} {
		if got := mayHaveLanded(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
