package rotation

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// CheckedTarget is one target as a run of every target would rotate it:
// names and ids only, never a credential.
type CheckedTarget struct {
	Name       string  `json:"name"`
	Source     string  `json:"source"` // the source as logs name it ("acr-ee cri-abc123")
	LoginCheck string  `json:"loginCheck"`
	Secrets    []Where `json:"secrets"`
}

// Inspection is what a loaded configuration would do in an environment,
// found without calling a cloud.
type Inspection struct {
	Targets []CheckedTarget
	// Open holds what each store and source kind refused when opened with
	// the environment (endpoints, keys), as New opens them; nil when none did.
	Open []error
	// Credentials is why an invocation with the given credentials would be
	// refused (a kind that signs with the function's own needs them), or nil.
	Credentials error
	// Placeholders name the values that look like a template's placeholders
	// (`targets[0].source.instanceId: "cri-xxxxxxxxxxxxxxxx"`).
	Placeholders []string
}

// Inspect opens every store and source kind the configuration uses with
// getenv, as New does, and lists what a run of every target would rotate.
// With creds, it also checks them as each invocation does.
func Inspect(cfg *Config, getenv func(string) string, creds *Credentials) Inspection {
	var in Inspection
	env := Env{Getenv: getenv, APITimeout: cfg.APITimeout.Duration, Quota: cfg.Quota.port()}
	opened := map[string]any{}
	var kinds []any // the opened stores and sources, to check credentials with
	open := func(key string, f func() (any, error)) {
		if _, done := opened[key]; done {
			return
		}
		v, err := f()
		opened[key] = v
		if err != nil {
			in.Open = append(in.Open, configError(err))
			return
		}
		kinds = append(kinds, v)
	}
	for _, t := range cfg.Targets {
		ct := CheckedTarget{Name: t.Name, Source: t.Source.Config.Describe(), LoginCheck: t.Source.LoginCheck}
		open("source/"+t.Source.Type, func() (any, error) { return t.Source.kind.Open(env) })
		for _, s := range t.Secrets {
			open("store/"+s.Store, func() (any, error) { return s.kind.Open(env) })
			ct.Secrets = append(ct.Secrets, s.Ref.Where())
		}
		in.Targets = append(in.Targets, ct)
	}
	if creds != nil {
		for _, k := range kinds {
			if c, ok := k.(port.CredentialChecker); ok && in.Credentials == nil {
				in.Credentials = c.CheckCredentials(*creds)
			}
		}
	}
	in.Placeholders = placeholders(cfg)
	return in
}

// placeholder matches what templates put where an id must go: a run of x
// ("cri-xxxxxxxxxxxxxxxx"), an <angle-bracketed name>, or the sequential
// digits of an example account id ("1234567890123456").
var placeholder = regexp.MustCompile(`(?i)xxxxxx|<[a-z0-9 _-]+>|1234567890`)

// placeholders walks the configuration as it would be written and names
// every string value that looks like a placeholder, by its path.
func placeholders(cfg *Config) []string {
	b, err := json.Marshal(cfg.Targets)
	if err != nil {
		return nil // plain strings and numbers: cannot happen
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, v[k])
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if placeholder.MatchString(v) {
				out = append(out, fmt.Sprintf("%s: %q", path, v))
			}
		}
	}
	walk("targets", doc)
	return out
}
