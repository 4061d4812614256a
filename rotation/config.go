package rotation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
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

// ParseConfig decodes YAML or JSON (JSON is YAML), refuses unknown fields,
// applies defaults and validates. origin names the input in errors.
func ParseConfig(b []byte, origin string) (*Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return nil, errorf(InvalidConfig, "%s: %s", origin, cleanYAMLError(err))
	}
	if err := cfg.validate(); err != nil {
		return nil, errorf(InvalidConfig, "%s: %v", origin, err)
	}
	return &cfg, nil
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
		if strings.TrimSpace(d) == "" || strings.ContainsAny(d, " \t\r\n\"") {
			return fmt.Errorf("%s.domains[%d]: %q is not a registry host", at, i, d)
		}
	}
	return nil
}
