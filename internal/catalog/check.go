package catalog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sae-secret-rotator/rotator/internal/login"
	"github.com/sae-secret-rotator/rotator/rotation"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Load reads the configuration the environment names and the registry
// prover, as the function loads them once per instance. Every error is an
// InvalidConfig *rotation.Error: every invocation would be refused.
func Load(getenv func(string) string) (*rotation.Config, rotation.Options, error) {
	cfg, err := rotation.LoadConfig(getenv, Kinds())
	if err != nil {
		return nil, rotation.Options{}, err
	}
	prover, err := newProver(getenv, cfg)
	if err != nil {
		return nil, rotation.Options{}, err
	}
	return cfg, rotation.Options{Getenv: getenv, Prover: prover}, nil
}

// newProver proves each new token against its registry before it is written.
func newProver(getenv func(string) string, cfg *rotation.Config) (*login.Checker, error) {
	p, err := login.NewChecker(getenv(login.EnvEndpoint), cfg.APITimeout.Duration)
	if err != nil {
		return nil, port.Errorf(port.InvalidConfig, "%v", err)
	}
	return p, nil
}

// Where is whose environment a check judges.
type Where int

const (
	// Here: this environment is the function's (`main -check`, in FC or on
	// the machine that runs the command line). A store or source that
	// refuses it (keys missing, a bad endpoint override) fails the check.
	Here Where = iota
	// Elsewhere: the function will run with another environment (the
	// packager, building for FC on a laptop). What this environment lacks
	// is reported as warnings only; the configuration itself must pass.
	Elsewhere
)

// CheckReport is a check's outcome (`main -check` prints it as JSON).
type CheckReport struct {
	// OK: the configuration would be accepted (and, Here, the environment too).
	OK bool `json:"ok"`
	// Config names where the configuration was read from.
	Config  string                   `json:"config"`
	Targets []rotation.CheckedTarget `json:"targets"`
	Secrets int                      `json:"secrets"`
	// Environment lists what the stores and sources refuse in this
	// environment: failures Here, warnings Elsewhere.
	Environment []string `json:"environment,omitempty"`
	// Credentials says why `main -event` here would have no credentials to
	// sign with (FC brings the function role's to each invocation).
	Credentials string `json:"credentials,omitempty"`
	// Placeholders are values a template left to edit; the packager
	// refuses them unless told -allow-placeholders.
	Placeholders []string `json:"placeholders,omitempty"`
	// Event is what the event given to the check asks for.
	Event *CheckedEvent         `json:"event,omitempty"`
	Error *rotation.ResultError `json:"error,omitempty"`
}

// CheckedEvent is an event as its invocation would read it.
type CheckedEvent struct {
	Trigger string `json:"trigger"`
	Action  string `json:"action"`
	DryRun  bool   `json:"dryRun"`
	// Targets are the targets it would rotate (or plan).
	Targets []string `json:"targets"`
}

// CheckOptions are what a check judges besides the configuration.
type CheckOptions struct {
	Where Where
	// Credentials, when not nil, are those `main -event` would sign with here.
	Credentials *rotation.Credentials
	// Event, when not nil, is checked too, as its invocation would read it;
	// EventOrigin names it in errors (`event file "plan.json"`).
	Event       []byte
	EventOrigin string
}

// Check validates the configuration the environment names exactly as an
// invocation loads it: every field, and every store and source opened with
// the environment (endpoints, the other clouds' keys), without calling a
// cloud; and the event, if one is given, as its invocation would read it.
func Check(getenv func(string) string, opts CheckOptions) *CheckReport {
	rep := &CheckReport{Config: origin(getenv), Targets: []rotation.CheckedTarget{}}
	cfg, err := rotation.LoadConfig(getenv, Kinds())
	if err != nil {
		rep.Error = &rotation.ResultError{Code: rotation.CodeOf(err), Message: message(err)}
		return rep
	}
	in := rotation.Inspect(cfg, getenv, opts.Credentials)
	rep.Targets, rep.Placeholders = in.Targets, in.Placeholders
	for _, t := range in.Targets {
		rep.Secrets += len(t.Secrets)
	}
	var envErrs []error
	if _, err := newProver(getenv, cfg); err != nil {
		envErrs = append(envErrs, err)
	}
	for _, err := range append(envErrs, in.Open...) {
		rep.Environment = append(rep.Environment, message(err))
	}
	if in.Credentials != nil {
		rep.Credentials = message(in.Credentials)
	}
	rep.OK = true
	if opts.Where == Here && len(rep.Environment) > 0 {
		rep.OK = false
		rep.Error = &rotation.ResultError{Code: rotation.InvalidConfig, Message: strings.Join(rep.Environment, "; ")}
		return rep
	}
	if opts.Event != nil {
		req, targets, err := cfg.Select(opts.Event)
		if err != nil {
			msg := message(err)
			if opts.EventOrigin != "" {
				msg = opts.EventOrigin + ": " + msg
			}
			rep.OK, rep.Error = false, &rotation.ResultError{Code: rotation.CodeOf(err), Message: msg}
			return rep
		}
		rep.Event = &CheckedEvent{Trigger: req.Trigger, Action: req.Action, DryRun: req.DryRun, Targets: targets}
	}
	return rep
}

// message is an error's words without its report code, which the report
// gives apart: a coded error's Message, else the whole text.
func message(err error) string {
	var e *port.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func origin(getenv func(string) string) string {
	switch inline, file := getenv(rotation.EnvConfig), getenv(rotation.EnvConfigFile); {
	case inline != "" && file != "":
		return rotation.EnvConfig + " and " + rotation.EnvConfigFile
	case inline != "":
		return rotation.EnvConfig + " (inline JSON)"
	case file != "":
		return fmt.Sprintf("%s %q", rotation.EnvConfigFile, file)
	default:
		return "none"
	}
}

// Text is the report for people: what would be rotated, then what is wrong.
func (r *CheckReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration: %s\n", r.Config)
	if r.Error != nil && len(r.Targets) == 0 {
		fmt.Fprintf(&b, "refused (%s): %s\n", r.Error.Code, r.Error.Message)
		return b.String()
	}
	fmt.Fprintf(&b, "%d target(s), %d secret(s):\n", len(r.Targets), r.Secrets)
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "  %s: %s (loginCheck %s)\n", t.Name, t.Source, t.LoginCheck)
		for _, s := range t.Secrets {
			fmt.Fprintf(&b, "    %s\n", describeWhere(s))
		}
	}
	for _, p := range r.Placeholders {
		fmt.Fprintf(&b, "placeholder: %s\n", p)
	}
	for _, e := range r.Environment {
		fmt.Fprintf(&b, "environment: %s\n", e)
	}
	if r.Credentials != "" {
		fmt.Fprintf(&b, "credentials: %s\n", r.Credentials)
	}
	if r.Event != nil {
		fmt.Fprintf(&b, "event: %s %s (dryRun %v) of %s\n", r.Event.Trigger, r.Event.Action, r.Event.DryRun, strings.Join(r.Event.Targets, ", "))
	}
	if r.Error != nil {
		fmt.Fprintf(&b, "refused (%s): %s\n", r.Error.Code, r.Error.Message)
	}
	return b.String()
}

// describeWhere is a secret as the text report lists it: its store, then
// region=... and what the store shows of it, name=value.
func describeWhere(w rotation.Where) string {
	s := w.Store
	if w.Region != "" {
		s += " region=" + w.Region
	}
	for _, f := range w.Fields {
		s += fmt.Sprintf(" %s=%v", f.Name, f.Value())
	}
	return s
}
