package rotation

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Result statuses.
const (
	StatusRotated = "rotated"
	StatusPlanned = "planned"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// Login check outcomes of a result.
const (
	LoginOK          = "ok"
	LoginUnreachable = "unreachable"
	LoginSkipped     = "skipped"
)

// ReasonCooldown is a skipped result's reason: an event-triggered run found
// the secret written by this instance less than eventCooldown ago.
const ReasonCooldown = "cooldown"

// maxReason bounds a manual event's reason, in characters, in the logs and
// the report: whoever may invoke the function must not fill either.
const maxReason = 256

// cutReason cuts a reason to its first maxReason characters.
func cutReason(s string) string {
	if utf8.RuneCountInString(s) <= maxReason {
		return s
	}
	n := 0
	for i := range s {
		if n == maxReason {
			return s[:i]
		}
		n++
	}
	return s
}

// Report is the invocation's result (docs/report.md).
type Report struct {
	RequestID string `json:"requestId"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dryRun"`
	Emergency bool   `json:"emergency"`
	Reason    string `json:"reason,omitempty"`
	Rotated   int    `json:"rotated"`
	Failed    int    `json:"failed"`
	Planned   int    `json:"planned,omitempty"`
	Skipped   int    `json:"skipped"`
	// Error is set when the whole invocation was refused (bad event,
	// configuration or target): nothing was read or written.
	Error   *ResultError `json:"error,omitempty"`
	Results []Result     `json:"results"`
}

// Result is one secret's outcome.
type Result struct {
	Target string `json:"target"`
	Where
	Status               string       `json:"status"`
	Reason               string       `json:"reason,omitempty"`
	VersionID            string       `json:"versionId,omitempty"`
	Registries           []string     `json:"registries,omitempty"`
	Login                string       `json:"login,omitempty"`
	ExpiresAt            *time.Time   `json:"expiresAt,omitempty"`
	ExpiresBeforeNextRun bool         `json:"expiresBeforeNextRun,omitempty"`
	RelateApps           []App        `json:"relateApps,omitempty"`
	Error                *ResultError `json:"error,omitempty"`
}

// ResultError is a failure with its contract code.
type ResultError struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// App is an SAE application that uses a secret.
type App struct {
	AppID   string `json:"appId"`
	AppName string `json:"appName"`
}

// OK reports whether every secret succeeded and the invocation was accepted.
func (r *Report) OK() bool { return r.Error == nil && r.Failed == 0 }

// BadInput reports whether the invocation was refused for its event or
// configuration (the command line exits 2 for those).
func (r *Report) BadInput() bool { return r.Error != nil }

// JSON is the report as one line of JSON.
func (r *Report) JSON() []byte {
	b, err := json.Marshal(r)
	if err != nil { // only plain types above: cannot happen
		panic(err)
	}
	return b
}

func (r *Report) count() {
	r.Rotated, r.Failed, r.Planned, r.Skipped = 0, 0, 0, 0
	for _, res := range r.Results {
		switch res.Status {
		case StatusRotated:
			r.Rotated++
		case StatusFailed:
			r.Failed++
		case StatusPlanned:
			r.Planned++
		case StatusSkipped:
			r.Skipped++
		}
	}
}
