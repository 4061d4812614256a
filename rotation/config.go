package rotation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Environment variables the function reads.
const (
	EnvConfig     = "ROTATOR_CONFIG"
	EnvConfigFile = "ROTATOR_CONFIG_FILE"
)

// Values of a source's loginCheck.
const (
	LoginAuto     = "auto"
	LoginRequired = "required"
	LoginOff      = "off"
)

// DefaultStore is the store of a secret that names none.
const DefaultStore = "sae"

// Defaults of the optional configuration fields.
const (
	DefaultMargin        = 5 * time.Minute
	DefaultFreshness     = 10 * time.Second
	DefaultQuota         = 60
	DefaultQuotaPer      = time.Minute
	DefaultAPITimeout    = 10 * time.Second
	DefaultConcurrency   = 4
	DefaultEventCooldown = 5 * time.Minute
	DefaultThrottleWait  = time.Second
)

// Catalog is every store and source kind a configuration may name.
type Catalog struct {
	Stores  []StoreKind
	Sources []SourceKind
}

// Config is the rotator's configuration (docs/configuration.md).
type Config struct {
	Schedule Schedule `json:"schedule"`
	// Freshness bounds the age of the read that feeds a merge when its write goes out.
	Freshness Duration `json:"freshness"`
	// Quota is the API quota of the stores that let the user set theirs
	// (SAE's, for the account); the function paces below it.
	Quota Quota `json:"quota"`
	// APITimeout bounds one cloud API call (the SDK's read timeout).
	APITimeout Duration `json:"apiTimeout"`
	// Concurrency bounds how many secrets rotate at once.
	Concurrency int `json:"concurrency"`
	// EventCooldown: an event-triggered run (and FC's retry of a failed
	// run) skips a secret that changed less than this long ago, by this
	// instance's memory or the store's record (lastChange).
	EventCooldown Duration `json:"eventCooldown"`
	// ThrottleWait is the first wait after a throttled answer; it doubles
	// while throttling goes on.
	ThrottleWait Duration `json:"throttleWait"`
	Targets      []Target `json:"targets"`
}

// Schedule describes the timer, so the function can warn about tokens that
// expire before the next run.
type Schedule struct {
	Interval Duration `json:"interval"`
	Margin   Duration `json:"margin"`
}

// Quota is an API call budget as the configuration writes it: Calls per Per.
type Quota struct {
	Calls int      `json:"calls"`
	Per   Duration `json:"per"`
}

// port is the quota as the ports carry it.
func (q Quota) port() port.Quota { return port.Quota{Calls: q.Calls, Per: q.Per.Duration} }

// Target binds a credential source to the secrets it feeds.
type Target struct {
	Name    string       `json:"name"`
	Source  SourceSpec   `json:"source"`
	Secrets []SecretSpec `json:"secrets"`
}

// SourceSpec is a target's source: the engine's fields and the kind's own.
type SourceSpec struct {
	Type       string
	LoginCheck string
	// ProbeRepository (namespace/name), when set, makes the proof before the
	// first write a pull of it.
	ProbeRepository string
	Config          SourceConfig
	kind            SourceKind
}

// SecretSpec is one secret of a target: its store and the store's entry.
type SecretSpec struct {
	Store string
	Ref   SecretRef
	kind  StoreKind
}

// MarshalJSON writes the entry as the configuration holds it.
func (s SourceSpec) MarshalJSON() ([]byte, error) {
	keys := map[string]string{"type": s.Type, "loginCheck": s.LoginCheck}
	if s.ProbeRepository != "" {
		keys["probeRepository"] = s.ProbeRepository
	}
	return withKeys(s.Config, keys)
}

// MarshalJSON writes the entry as the configuration holds it.
func (s SecretSpec) MarshalJSON() ([]byte, error) {
	return withKeys(s.Ref, map[string]string{"store": s.Store})
}

func withKeys(v any, keys map[string]string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range keys {
		m[k] = v
	}
	return json.Marshal(m)
}

// Duration is a time.Duration written as a Go duration string ("15m").
type Duration struct{ time.Duration }

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("must be a duration string such as \"15m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"15m\"", s)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// LoadConfig reads the configuration named by the environment: exactly one of
// ROTATOR_CONFIG (inline JSON) or ROTATOR_CONFIG_FILE (YAML or JSON file).
// Every error is an *Error with code InvalidConfig.
func LoadConfig(getenv func(string) string, cat Catalog) (*Config, error) {
	inline, file := getenv(EnvConfig), getenv(EnvConfigFile)
	switch {
	case inline != "" && file != "":
		return nil, errorf(InvalidConfig, "set only one of %s and %s", EnvConfig, EnvConfigFile)
	case inline != "":
		return ParseConfig([]byte(inline), EnvConfig, cat)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, errorf(InvalidConfig, "%s: cannot read %q: %v", EnvConfigFile, file, errors.Unwrap(err))
		}
		return ParseConfig(b, file, cat)
	default:
		return nil, errorf(InvalidConfig, "no configuration: set %s (inline JSON) or %s (a YAML or JSON file)", EnvConfig, EnvConfigFile)
	}
}

// ParseConfig decodes YAML or JSON, refuses unknown fields, applies
// defaults and validates, with the kinds of cat for sources and stores.
// origin names the input in errors.
func ParseConfig(b []byte, origin string, cat Catalog) (*Config, error) {
	js := b
	if !looksJSON(b) {
		var err error
		// Strict: a key given twice is an error, not a silent last-one-wins.
		if js, err = yaml.YAMLToJSONStrict(b); err != nil {
			return nil, errorf(InvalidConfig, "%s: %s", origin, cleanYAMLError(err))
		}
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, errorf(InvalidConfig, "%s: not valid JSON or YAML", origin)
	}
	// The shape is checked first, by exact key: encoding/json alone matches
	// keys case-insensitively and reports bad values without their field.
	if err := checkShape(doc, reflect.TypeOf(rawConfig{}), ""); err != nil {
		return nil, errorf(InvalidConfig, "%s: %v", origin, err)
	}
	var raw rawConfig
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, errorf(InvalidConfig, "%s: %s", origin, cleanYAMLError(err))
	}
	cfg, err := raw.build(cat)
	if err == nil {
		err = cfg.validate()
	}
	if err != nil {
		return nil, errorf(InvalidConfig, "%s: %v", origin, err)
	}
	return cfg, nil
}

var targetName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func (c *Config) validate() error {
	if c.Schedule.Interval.Duration < 0 {
		return errors.New("schedule.interval: must not be negative")
	}
	if c.Schedule.Margin.Duration < 0 {
		return errors.New("schedule.margin: must not be negative")
	}
	if c.Schedule.Margin.Duration == 0 {
		c.Schedule.Margin.Duration = DefaultMargin
	}
	if c.Freshness.Duration < 0 {
		return errors.New("freshness: must not be negative")
	}
	if c.Freshness.Duration == 0 {
		c.Freshness.Duration = DefaultFreshness
	}
	if c.Quota.Calls < 0 || c.Quota.Per.Duration < 0 {
		return errors.New("quota: calls and per must not be negative")
	}
	if c.Quota.Calls == 0 {
		c.Quota.Calls = DefaultQuota
	}
	if c.Quota.Per.Duration == 0 {
		c.Quota.Per.Duration = DefaultQuotaPer
	}
	// A write goes out at least one paced call after its read: with a window
	// shorter than a few calls' spacing, no write could ever be fresh.
	if spacing := c.Quota.Per.Duration / time.Duration(c.Quota.Calls); c.Freshness.Duration < 3*spacing {
		return fmt.Errorf("freshness: %v is shorter than three calls' spacing under the quota (%v): no write could follow its read in time", c.Freshness.Duration, 3*spacing)
	}
	for _, d := range []struct {
		name string
		v    *Duration
		def  time.Duration
	}{{"apiTimeout", &c.APITimeout, DefaultAPITimeout}, {"eventCooldown", &c.EventCooldown, DefaultEventCooldown},
		{"throttleWait", &c.ThrottleWait, DefaultThrottleWait}} {
		if d.v.Duration < 0 {
			return fmt.Errorf("%s: must not be negative", d.name)
		}
		if d.v.Duration == 0 {
			d.v.Duration = d.def
		}
	}
	if c.Concurrency < 0 {
		return errors.New("concurrency: must not be negative")
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if len(c.Targets) == 0 {
		return errors.New("targets: at least one target is required")
	}
	names := map[string]int{}
	for i := range c.Targets {
		t := &c.Targets[i]
		at := fmt.Sprintf("targets[%d]", i)
		switch {
		case t.Name == "":
			return fmt.Errorf("%s.name: is required", at)
		case !targetName.MatchString(t.Name):
			return fmt.Errorf("%s.name: %q must be lower-case letters, digits and '-'", at, t.Name)
		}
		if j, dup := names[t.Name]; dup {
			return fmt.Errorf("%s.name: %q is already the name of targets[%d]", at, t.Name, j)
		}
		names[t.Name] = i
		if t.Source.Config == nil {
			return fmt.Errorf("%s.source: is required", at)
		}
		if len(t.Secrets) == 0 {
			return fmt.Errorf("%s.secrets: at least one secret is required", at)
		}
		seen := map[string]int{}
		for j, s := range t.Secrets {
			key := s.Store + "/" + s.Ref.Key()
			if k, dup := seen[key]; dup {
				return fmt.Errorf("%s.secrets[%d]: the same secret as secrets[%d]", at, j, k)
			}
			seen[key] = j
		}
	}
	return nil
}
