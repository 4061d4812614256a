package rotation

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// The configuration's entries that the kinds read: a target's source and
// its secrets, each decoded by the kind its type or store names.

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

// repositoryPath is a repository of at least two components (namespace/name),
// each as the OCI distribution specification's name grammar allows.
var repositoryPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)

func decodeSource(raw json.RawMessage, at string, cat Catalog) (SourceSpec, error) {
	doc, vals, err := engineKeys(raw, at, "type", "loginCheck", "probeRepository")
	if err != nil {
		return SourceSpec{}, err
	}
	spec := SourceSpec{Type: vals[0], LoginCheck: vals[1], ProbeRepository: vals[2]}
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
	if spec.ProbeRepository != "" && (len(spec.ProbeRepository) > 255 || !repositoryPath.MatchString(spec.ProbeRepository)) {
		return spec, fmt.Errorf("%s.probeRepository: %q is not a repository such as \"team/web\" (namespace/name: lower-case letters, digits and . _ -, no registry, tag or digest)",
			at, spec.ProbeRepository)
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
