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
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Environment variables the function reads.
const (
	EnvConfig     = "ROTATOR_CONFIG"
	EnvConfigFile = "ROTATOR_CONFIG_FILE"
)

// SourceACREE is the ACR Enterprise Edition temporary-token source.
const SourceACREE = "acr-ee"

// Defaults of the optional configuration fields.
const (
	DefaultMargin     = 5 * time.Minute
	DefaultFreshness  = 10 * time.Second
	DefaultQuota      = 60
	DefaultQuotaPer   = time.Minute
	DefaultAPITimeout = 10 * time.Second
)

// Config is the rotator's configuration (CONTRACT.md, "Configuration").
type Config struct {
	Schedule Schedule `json:"schedule"`
	// Freshness bounds the age of the read that feeds a merge when its write goes out.
	Freshness Duration `json:"freshness"`
	// Quota is SAE's API quota for the account; the function paces below it.
	Quota Quota `json:"quota"`
	// APITimeout bounds one cloud API call (the SDK's read timeout).
	APITimeout Duration `json:"apiTimeout"`
	// Concurrency bounds how many secrets rotate at once.
	Concurrency int      `json:"concurrency"`
	Targets     []Target `json:"targets"`
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
	Name    string      `json:"name"`
	Source  Source      `json:"source"`
	Secrets []SecretRef `json:"secrets"`
}

// Source is where a target's credentials come from.
type Source struct {
	Type       string   `json:"type"`
	InstanceID string   `json:"instanceId"`
	RegionID   string   `json:"regionId"`
	Domains    []string `json:"domains"`
}

// SecretRef names one SAE secret, by id or by name.
type SecretRef struct {
	NamespaceID string `json:"namespaceId"`
	SecretID    int64  `json:"secretId"`
	SecretName  string `json:"secretName"`
}

// Region is the SAE region of the secret's namespace: the part before ':'.
func (s SecretRef) Region() string {
	region, _, _ := strings.Cut(s.NamespaceID, ":")
	return region
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
func LoadConfig(getenv func(string) string) (*Config, error) {
	inline, file := getenv(EnvConfig), getenv(EnvConfigFile)
	switch {
	case inline != "" && file != "":
		return nil, errorf(InvalidConfig, "set only one of %s and %s", EnvConfig, EnvConfigFile)
	case inline != "":
		return ParseConfig([]byte(inline), EnvConfig)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, errorf(InvalidConfig, "%s: cannot read %q: %v", EnvConfigFile, file, errors.Unwrap(err))
		}
		return ParseConfig(b, file)
	default:
		return nil, errorf(InvalidConfig, "no configuration: set %s (inline JSON) or %s (a YAML or JSON file)", EnvConfig, EnvConfigFile)
	}
}

// ParseConfig decodes YAML or JSON, refuses unknown fields, applies
// defaults and validates. origin names the input in errors.
func ParseConfig(b []byte, origin string) (*Config, error) {
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
	if err := checkShape(doc, reflect.TypeOf(Config{}), ""); err != nil {
		return nil, errorf(InvalidConfig, "%s: %v", origin, err)
	}
	var cfg Config
	if err := json.Unmarshal(js, &cfg); err != nil {
		return nil, errorf(InvalidConfig, "%s: %s", origin, cleanYAMLError(err))
	}
	if err := cfg.validate(); err != nil {
		return nil, errorf(InvalidConfig, "%s: %v", origin, err)
	}
	return &cfg, nil
}

// looksJSON tells inline JSON from YAML: JSON is parsed as JSON, so that
// everything JSON allows (such as escaped surrogate pairs) is accepted.
func looksJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

var durationType = reflect.TypeOf(Duration{})

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
	targetName  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	regionID    = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
	instanceID  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	namespaceID = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+(:[A-Za-z0-9_-]+)?$`)
)

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
	if c.APITimeout.Duration < 0 {
		return errors.New("apiTimeout: must not be negative")
	}
	if c.APITimeout.Duration == 0 {
		c.APITimeout.Duration = DefaultAPITimeout
	}
	if c.Concurrency < 0 {
		return errors.New("concurrency: must not be negative")
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
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
		if err := t.Source.validate(at + ".source"); err != nil {
			return err
		}
		if len(t.Secrets) == 0 {
			return fmt.Errorf("%s.secrets: at least one secret is required", at)
		}
		seen := map[string]int{}
		for j, s := range t.Secrets {
			at := fmt.Sprintf("%s.secrets[%d]", at, j)
			switch {
			case s.NamespaceID == "":
				return fmt.Errorf("%s: namespaceId is required", at)
			case !namespaceID.MatchString(s.NamespaceID):
				return fmt.Errorf("%s: namespaceId %q must be \"<region>\" or \"<region>:<name>\"", at, s.NamespaceID)
			case s.SecretID == 0 && s.SecretName == "":
				return fmt.Errorf("%s: secretId or secretName is required", at)
			case s.SecretID != 0 && s.SecretName != "":
				return fmt.Errorf("%s: give secretId or secretName, not both", at)
			case s.SecretID < 0:
				return fmt.Errorf("%s: secretId must be positive", at)
			case s.SecretName != "" && !printable(s.SecretName):
				return fmt.Errorf("%s: secretName must be printable ASCII without spaces, at most 253 characters", at)
			}
			key := s.NamespaceID + "/" + s.SecretName + "/" + fmt.Sprint(s.SecretID)
			if k, dup := seen[key]; dup {
				return fmt.Errorf("%s: the same secret as secrets[%d]", at, k)
			}
			seen[key] = j
		}
	}
	return nil
}

func (s *Source) validate(at string) error {
	switch {
	case s.Type == "":
		return fmt.Errorf("%s.type: is required (%q)", at, SourceACREE)
	case s.Type != SourceACREE:
		return fmt.Errorf("%s.type: %q is not a known source type (%q)", at, s.Type, SourceACREE)
	case s.InstanceID == "":
		return fmt.Errorf("%s.instanceId: is required", at)
	case !instanceID.MatchString(s.InstanceID):
		return fmt.Errorf("%s.instanceId: %q is not an instance id such as \"cri-abc123\"", at, s.InstanceID)
	case s.RegionID == "":
		return fmt.Errorf("%s.regionId: is required", at)
	case !regionID.MatchString(s.RegionID):
		return fmt.Errorf("%s.regionId: %q is not a region id such as \"cn-hangzhou\"", at, s.RegionID)
	}
	for i, d := range s.Domains {
		if !printable(d) || strings.ContainsAny(d, "\"") {
			return fmt.Errorf("%s.domains[%d]: %q is not a registry host", at, i, d)
		}
	}
	return nil
}

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
