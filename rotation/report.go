package rotation

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
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

// ReasonCooldown is a skipped result's reason: an event-triggered run (or
// FC's retry of a failed run) found the secret changed less than
// eventCooldown ago, by this instance's memory or the store's record.
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
	// Where names the secret: its members (store, region, and what the store
	// shows of it, such as SAE's namespaceId and secretId) follow target in
	// the result's JSON object (MarshalJSON).
	Where                Where      `json:"-"`
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

// App is an SAE application that uses a secret: a consumer of it as the
// report names them (relateApps).
type App struct {
	AppID   string `json:"appId"`
	AppName string `json:"appName"`
}

// resultJSON is a Result without its methods, for encoding/json.
type resultJSON Result

// MarshalJSON writes the result as one flat object: target, Where's
// members, then the outcome.
func (r Result) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(resultJSON(r)) // {"target":...,"status":...}
	if err != nil {
		return nil, err
	}
	target, err := json.Marshal(r.Target)
	if err != nil {
		return nil, err
	}
	head := len(`{"target":`) + len(target)
	out := make([]byte, 0, len(body)+64)
	out = append(out, body[:head]...)
	out = r.Where.AppendMembers(append(out, ','))
	return append(out, body[head:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*resultJSON)(r)); err != nil {
		return err
	}
	return r.Where.UnmarshalMembers(b, func(name string) bool { return resultKeys[name] })
}

// resultKeys are the JSON names of a Result's own members.
var resultKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(Result{})
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}()

// ResultError is a failure with its contract code.
type ResultError struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// OK reports whether every secret succeeded and the invocation was accepted.
func (r *Report) OK() bool { return r.Error == nil && r.Failed == 0 }

// BadInput reports whether the invocation was refused for its event or
// configuration (the command line exits 2 for those).
func (r *Report) BadInput() bool { return r.Error != nil }

// JSON is the report as one line of JSON.
func (r *Report) JSON() []byte { return marshal(r) }

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

// FailureMessageLimit bounds the invocation's error message, which FC hands
// to the failure destination. Simple Message Queue (MNS) and EventBridge take
// 64 KB a message, and FC's message holds more than ours: the event, FC's
// own fields, and our text JSON-escaped once by the runtime and again in the
// destination's envelope (docs/report.md, docs/cloud-apis.md). Half of the
// 64 KB leaves room for all of that.
const FailureMessageLimit = 32 << 10

// Truncation says what a summary left out of the report.
type Truncation struct {
	// OmittedResults counts the results not in the summary: every result
	// that did not fail, and the failures that did not fit.
	OmittedResults int `json:"omittedResults"`
	// OmittedFailures counts the failed results that did not fit.
	OmittedFailures int `json:"omittedFailures"`
}

// summary is a report cut to fit: the report's fields and `truncated`.
type summary struct {
	Report
	Truncated *Truncation `json:"truncated"`
}

// summaryTextLimit cuts a summary's reason and refusal message, so that the
// header alone always fits.
const summaryTextLimit = 1024

// Summary is the report as JSON of at most limit bytes: the report itself
// (JSON) when it fits, cut false; otherwise its header and counts, the
// first failed results in configuration order that fit, and `truncated`,
// saying how many results and failures were left out (docs/report.md),
// cut true. The whole report stays in the log (a line per secret) and,
// from the command line, on stdout. limit must leave room for the header
// (a few hundred bytes).
func (r *Report) Summary(limit int) (msg []byte, cut bool) {
	whole := r.JSON()
	if len(whole) <= limit {
		return whole, false
	}
	s := summary{Report: *r, Truncated: &Truncation{OmittedResults: len(r.Results), OmittedFailures: r.Failed}}
	s.Reason = cutText(s.Reason, summaryTextLimit)
	if s.Error != nil {
		e := *s.Error
		e.Message = cutText(e.Message, summaryTextLimit)
		s.Error = &e
	}
	s.Results = []Result{}
	// The counts in truncated only shrink as results go in: measured at
	// their largest, the size is an upper bound.
	size := len(marshal(s))
	for _, res := range r.Results {
		if res.Status != StatusFailed {
			continue
		}
		n := len(marshal(res))
		if len(s.Results) > 0 {
			n++ // the comma
		}
		if size+n > limit {
			break
		}
		size += n
		s.Results = append(s.Results, res)
	}
	s.Truncated.OmittedResults = len(r.Results) - len(s.Results)
	s.Truncated.OmittedFailures = r.Failed - len(s.Results)
	return marshal(s), true
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // only plain types: cannot happen
		panic(err)
	}
	return b
}

// cutText cuts s to at most n bytes, on a character boundary.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// reported completes a secret's result with its error, if any, and logs
// the secret's line.
func (w *invocation) reported(res *Result, err error, start time.Time) {
	fields := append(secretFields(*res), zap.Duration("took", w.r.clock.Now().Sub(start)))
	if err != nil {
		e := asError(err, UpdateFailed)
		res.Status = StatusFailed
		res.Error = &ResultError{Code: e.Code, Message: w.redact.clean(e.Message)}
		w.log.Error("secret failed", append(fields, zap.String("code", string(e.Code)), zap.String("error", res.Error.Message))...)
		return
	}
	fields = append(fields, zap.String("status", res.Status), zap.Strings("registries", res.Registries))
	if res.Reason != "" {
		fields = append(fields, zap.String("reason", res.Reason))
	}
	if res.Login != "" {
		fields = append(fields, zap.String("login", res.Login))
	}
	if res.VersionID != "" {
		fields = append(fields, zap.String("versionId", res.VersionID))
	}
	if c := res.Changes; c != nil {
		fields = append(fields, zap.Strings("added", c.Added), zap.Strings("replaced", c.Replaced), zap.Int("keptEntries", c.KeptEntries),
			zap.Int("keptKeys", c.KeptKeys), zap.Int("keptDataKeys", c.KeptDataKeys))
	}
	if res.RelateApps != nil { // stores that know a secret's consumers say so, even when there are none
		fields = append(fields, zap.Any("relateApps", res.RelateApps))
	}
	if res.ExpiresAt != nil {
		fields = append(fields, zap.Time("expiresAt", *res.ExpiresAt))
	}
	w.log.Info("secret "+res.Status, fields...)
}

// progress says how far the run is: n of the invocation's secrets are done.
func (w *invocation) progress(res Result, n int64, of int) {
	w.log.Info("progress", append(whereFields(res.Where), zap.Int64("n", n), zap.Int("of", of),
		zap.String("target", res.Target), zap.String("status", res.Status))...)
}

// finished counts the results and says so.
func (w *invocation) finished(rep *Report) {
	rep.count()
	w.log.Info("rotation finished", zap.Int("rotated", rep.Rotated), zap.Int("planned", rep.Planned), zap.Int("skipped", rep.Skipped),
		zap.Int("failed", rep.Failed))
}
