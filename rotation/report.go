package rotation

import (
	"encoding/json"
	"time"
)

// Result statuses.
const (
	StatusRotated = "rotated"
	StatusPlanned = "planned"
	StatusFailed  = "failed"
)

// Report is the invocation's result (CONTRACT.md, "The report").
type Report struct {
	RequestID string `json:"requestId"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dryRun"`
	Emergency bool   `json:"emergency"`
	Reason    string `json:"reason,omitempty"`
	Rotated   int    `json:"rotated"`
	Failed    int    `json:"failed"`
	Planned   int    `json:"planned,omitempty"`
	// Error is set when the whole invocation was refused (bad event,
	// configuration or target): nothing was read or written.
	Error   *ResultError `json:"error,omitempty"`
	Results []Result     `json:"results"`
}

// Result is one secret's outcome.
type Result struct {
	Target               string       `json:"target"`
	NamespaceID          string       `json:"namespaceId"`
	SecretID             int64        `json:"secretId,omitempty"`
	SecretName           string       `json:"secretName,omitempty"`
	Status               string       `json:"status"`
	Registries           []string     `json:"registries,omitempty"`
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
	r.Rotated, r.Failed, r.Planned = 0, 0, 0
	for _, res := range r.Results {
		switch res.Status {
		case StatusRotated:
			r.Rotated++
		case StatusFailed:
			r.Failed++
		case StatusPlanned:
			r.Planned++
		}
	}
}
