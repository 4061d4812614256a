package rotation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
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
	// Quota is SAE's API quota for the account; the function paces below it.
	Quota Quota `json:"quota"`
	// APITimeout bounds one cloud API call (the SDK's read timeout).
	APITimeout Duration `json:"apiTimeout"`
	// Concurrency bounds how many secrets rotate at once.
	Concurrency int `json:"concurrency"`
	// EventCooldown: an event-triggered run skips a secret this instance
	// wrote less than this long ago.
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

// Quota is an API call budget: Calls per Per.
type Quota struct {
	Calls int      `json:"calls"`
	Per   Duration `json:"per"`
}

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
	Config     SourceConfig
	kind       SourceKind
}

// SecretSpec is one secret of a target: its store and the store's entry.
type SecretSpec struct {
	Store string
	Ref   SecretRef
	kind  StoreKind
}

// MarshalJSON writes the entry as the configuration holds it.
func (s SourceSpec) MarshalJSON() ([]byte, error) {
	return withKeys(s.Config, map[string]string{"type": s.Type, "loginCheck": s.LoginCheck})
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

// rawConfig is Config as decoded, before the kinds read their entries.
type rawConfig struct {
	Schedule      Schedule    `json:"schedule"`
	Freshness     Duration    `json:"freshness"`
	Quota         Quota       `json:"quota"`
	APITimeout    Duration    `json:"apiTimeout"`
	Concurrency   int         `json:"concurrency"`
	EventCooldown Duration    `json:"eventCooldown"`
	ThrottleWait  Duration    `json:"throttleWait"`
	Targets       []rawTarget `json:"targets"`
}

type rawTarget struct {
	Name    string            `json:"name"`
	Source  json.RawMessage   `json:"source"`
	Secrets []json.RawMessage `json:"secrets"`
}

func (r *rawConfig) build(cat Catalog) (*Config, error) {
	cfg := &Config{Schedule: r.Schedule, Freshness: r.Freshness, Quota: r.Quota, APITimeout: r.APITimeout,
		Concurrency: r.Concurrency, EventCooldown: r.EventCooldown, ThrottleWait: r.ThrottleWait}
	for i, rt := range r.Targets {
		at := fmt.Sprintf("targets[%d]", i)
		t := Target{Name: rt.Name}
		if len(rt.Source) > 0 && string(rt.Source) != "null" {
			src, err := decodeSource(rt.Source, at+".source", cat)
			if err != nil {
				return nil, err
			}
			t.Source = src
		}
		for j, rs := range rt.Secrets {
			sec, err := decodeSecret(rs, fmt.Sprintf("%s.secrets[%d]", at, j), cat)
			if err != nil {
				return nil, err
			}
			t.Secrets = append(t.Secrets, sec)
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	return cfg, nil
}

// engineKeys takes the engine's own keys out of an entry, as strings.
func engineKeys(raw json.RawMessage, at string, keys ...string) (map[string]any, []string, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return nil, nil, fmt.Errorf("%s: must be an object", at)
	}
	vals := make([]string, len(keys))
	for i, k := range keys {
		v, ok := doc[k]
		delete(doc, k) // null counts as absent
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if b, isBool := v.(bool); isBool && !b && k == "loginCheck" {
			// YAML 1.1 reads a bare `off` as false.
			s, ok = LoginOff, true
		}
		if !ok {
			return nil, nil, fmt.Errorf("%s.%s: must be a string", at, k)
		}
		vals[i] = s
	}
	return doc, vals, nil
}

func decodeSource(raw json.RawMessage, at string, cat Catalog) (SourceSpec, error) {
	doc, vals, err := engineKeys(raw, at, "type", "loginCheck")
	if err != nil {
		return SourceSpec{}, err
	}
	spec := SourceSpec{Type: vals[0], LoginCheck: vals[1]}
	kind, names, found := lookup(cat.Sources, spec.Type)
	spec.kind = kind
	switch {
	case spec.Type == "":
		return spec, fmt.Errorf("%s.type: is required (one of %s)", at, quoted(names))
	case !found:
		return spec, fmt.Errorf("%s.type: %q is not a known source type (one of %s)", at, spec.Type, quoted(names))
	}
	switch spec.LoginCheck {
	case "":
		spec.LoginCheck = LoginAuto
	case LoginAuto, LoginRequired, LoginOff:
	default:
		return spec, fmt.Errorf("%s.loginCheck: must be %q, %q or %q", at, LoginAuto, LoginRequired, LoginOff)
	}
	spec.Config = spec.kind.NewConfig()
	if err := decodeEntry(raw, doc, spec.Config, at); err != nil {
		return spec, err
	}
	if err := spec.Config.Validate(); err != nil {
		return spec, fmt.Errorf("%s.%v", at, err)
	}
	return spec, nil
}

func decodeSecret(raw json.RawMessage, at string, cat Catalog) (SecretSpec, error) {
	doc, vals, err := engineKeys(raw, at, "store")
	if err != nil {
		return SecretSpec{}, err
	}
	spec := SecretSpec{Store: vals[0]}
	if spec.Store == "" {
		spec.Store = DefaultStore
	}
	kind, names, found := lookup(cat.Stores, spec.Store)
	spec.kind = kind
	if !found {
		return spec, fmt.Errorf("%s.store: %q is not a known store (one of %s)", at, spec.Store, quoted(names))
	}
	spec.Ref = spec.kind.NewRef()
	if err := decodeEntry(raw, doc, spec.Ref, at); err != nil {
		return spec, err
	}
	if err := spec.Ref.Validate(); err != nil {
		return spec, fmt.Errorf("%s: %v", at, err)
	}
	return spec, nil
}

// lookup finds a kind by name, and lists the names for an error.
func lookup[K interface{ Name() string }](kinds []K, name string) (kind K, names []string, found bool) {
	for _, k := range kinds {
		names = append(names, k.Name())
		if k.Name() == name {
			kind, found = k, true
		}
	}
	return kind, names, found
}

// decodeEntry checks an entry's keys against the kind's type, then fills it.
func decodeEntry(raw json.RawMessage, doc map[string]any, into any, at string) error {
	if err := checkShape(doc, reflect.TypeOf(into).Elem(), at); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s: %s", at, cleanYAMLError(err))
	}
	return nil
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// looksJSON tells inline JSON from YAML: JSON is parsed as JSON, so that
// everything JSON allows (such as escaped surrogate pairs) is accepted.
func looksJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

var (
	durationType = reflect.TypeOf(Duration{})
	rawType      = reflect.TypeOf(json.RawMessage{})
)

// checkShape walks a decoded document along the Go type it will fill and
// names the first field that is unknown or of the wrong kind.
func checkShape(v any, t reflect.Type, path string) error {
	at := func() string {
		if path == "" {
			return "the configuration"
		}
		return path
	}
	if v == nil {
		return nil // absent: the default applies, or validate asks for it
	}
	if t == rawType {
		return nil // an entry read by its kind
	}
	if t == durationType {
		str, ok := v.(string)
		if _, err := time.ParseDuration(str); !ok || err != nil {
			return fmt.Errorf("%s: must be a duration such as \"15m\"", at())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be an object", at())
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			fields[name] = t.Field(i).Type
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s: unknown field", sub)
			}
			if err := checkShape(obj[k], ft, sub); err != nil {
				return err
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: must be a list", at())
		}
		for i, e := range list {
			if err := checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: must be a string", at())
		}
	case reflect.Int, reflect.Int64:
		if n, ok := v.(float64); !ok || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return fmt.Errorf("%s: must be a whole number", at())
		}
	}
	return nil
}

// cleanYAMLError drops the library's prefixes so the field name leads.
func cleanYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: ")
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}

var (
	targetName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	regionID   = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
)

// ValidRegion reports whether s looks like a cloud region id ("cn-hangzhou").
func ValidRegion(s string) bool { return regionID.MatchString(s) }

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

// Printable reports whether s is non-empty, printable ASCII without spaces
// and of a length a Kubernetes-style name or a host can have.
func Printable(s string) bool { return printable(s) }

// printable reports whether s is non-empty, printable ASCII without spaces
// and of a length a Kubernetes-style name or a host can have.
func printable(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
