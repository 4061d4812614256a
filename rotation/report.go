package rotation

import (
	"encoding/json"
	"time"
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
	Status               string     `json:"status"`
	Reason               string     `json:"reason,omitempty"`
	VersionID            string     `json:"versionId,omitempty"`
	Registries           []string   `json:"registries,omitempty"`
	Login                string     `json:"login,omitempty"`
	ExpiresAt            *time.Time `json:"expiresAt,omitempty"`
	ExpiresBeforeNextRun bool       `json:"expiresBeforeNextRun,omitempty"`
	RelateApps           []App      `json:"relateApps,omitempty"`
	// Changes is what a planned write would do to the secret (dry runs only).
	Changes *Changes     `json:"changes,omitempty"`
	Error   *ResultError `json:"error,omitempty"`
}

// Changes is a plan's account of one secret's write: the source's hosts
// by name, whatever else the secret holds by count only (it belongs to
// others, and its values are credentials).
type Changes struct {
	Added    []string `json:"added"`    // hosts that have no entry yet
	Replaced []string `json:"replaced"` // hosts whose entry the new login replaces
	// KeptEntries counts the other registries' auths entries, kept as they are.
	KeptEntries int `json:"keptEntries"`
	// KeptKeys counts the docker config's other top-level keys.
	KeptKeys int `json:"keptKeys"`
	// KeptDataKeys counts the secret's other data keys (SAE's SecretData
	// keys besides .dockerconfigjson), kept as they are.
	KeptDataKeys int `json:"keptDataKeys"`
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
