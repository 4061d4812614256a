package catalog_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// knownDeviations are deviations of ParseConfig from docs/configuration.md
// that were reported rather than fixed here (see docs/fuzzing.md). While
// an entry is true the tests stop asserting on inputs that show it; set it
// to false once the code is fixed, and the seeds named after it
// (testdata/fuzz/FuzzParseConfig/known-*) then check the fix.
var knownDeviations = map[string]bool{
	// encoding/json matches struct fields case-insensitively, so ParseConfig
	// took "Targets" for "targets".
	"folded-keys": false,
	// ParseConfig accepted control characters (and U+FFFE/U+FFFF) in
	// secretName and domains; encoding/json writes them raw, and the YAML
	// reader then refuses them (or folds NEL into a space), so such a config
	// could not be re-read.
	"config-control-chars": false,
	// A null `store` or `loginCheck` (YAML `store:` with no value) is refused
	// as an unknown field, though a null field is absent everywhere else and
	// an absent store is "sae", an absent loginCheck "auto".
	"null-engine-keys": false,
	// YAML 1.1 reads a bare `off` as false, so `loginCheck: off`, as the
	// documentation writes it, is refused ("must be a string").
	"yaml-bare-off": false,
}

// kindDoc is what docs/configuration.md says of one kind's entry.
type kindDoc struct {
	fields   []string // the entry's own keys, besides `store` or `type` and `loginCheck`
	required []string // present and not empty
	// rule is any further documented rule: why the entry is refused, or "".
	rule func(entry map[string]any) string
}

// The documented kinds, including those not in the catalog yet: the oracle
// speaks only of configurations ParseConfig accepted, so a kind it knows
// ahead of the catalog costs nothing. A new kind's documentation adds an
// entry here.
var (
	storeDocs = map[string]kindDoc{
		"sae": {fields: []string{"namespaceId", "secretId", "secretName"}, required: []string{"namespaceId"}, rule: saeIDOrName},
		"kms": {fields: []string{"regionId", "secretName"}, required: []string{"regionId", "secretName"}},
		"csms": {fields: []string{"region", "projectId", "secretName"},
			required: []string{"region", "projectId", "secretName"}},
		"ssm": {fields: []string{"region", "secretName", "versionId"},
			required: []string{"region", "secretName", "versionId"}},
	}
	sourceDocs = map[string]kindDoc{
		"acr-ee":       {fields: []string{"instanceId", "regionId", "domains", "assumeRole"}, required: []string{"instanceId", "regionId"}},
		"acr-personal": {fields: []string{"regionId", "instanceId", "domains", "assumeRole"}, required: []string{"regionId"}, rule: crpiInstance},
	}
	topLevelKeys = []string{"schedule", "freshness", "quota", "apiTimeout", "concurrency", "eventCooldown", "throttleWait", "targets"}
	nestedKeys   = map[string][]string{"schedule": {"interval", "margin"}, "quota": {"calls", "per"}}
	targetKeys   = []string{"name", "source", "secrets"}
	loginChecks  = []string{"auto", "required", "off"}
	targetName   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	// probeRepository: namespace/name, lower-case letters, digits and . _ -
	// between them (docs/configuration.md).
	probeRepository = regexp.MustCompile(`^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$`)
)

// crpiInstance: an acr-personal instanceId, when given, is a crpi- id.
func crpiInstance(e map[string]any) string {
	if v, ok := e["instanceId"]; ok && v != nil {
		if id, _ := v.(string); !strings.HasPrefix(id, "crpi-") || len(id) == len("crpi-") {
			return "an acr-personal instanceId is not crpi-..."
		}
	}
	return ""
}

// saeIDOrName: exactly one of secretId and secretName.
func saeIDOrName(e map[string]any) string {
	id, _ := e["secretId"].(float64)
	name, _ := e["secretName"].(string)
	if (id != 0) == (name != "") {
		return "an sae secret has both or neither of secretId and secretName"
	}
	return ""
}

// contractRejectsConfig is a small oracle written from the documented
// interface alone (docs/configuration.md): a reason the documentation
// refuses the configuration, or "" when it cannot tell. It reads the
// document as plain YAML, without the Config types.
func contractRejectsConfig(data []byte) string {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "not YAML"
	}
	if foldedKey(doc) {
		return ""
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return "not a mapping"
	}
	if why := unknownKey(top, topLevelKeys); why != "" {
		return why
	}
	for k, keys := range nestedKeys {
		if m, ok := top[k].(map[string]any); ok {
			if why := unknownKey(m, keys); why != "" {
				return k + ": " + why
			}
		}
	}
	targets, _ := top["targets"].([]any)
	if len(targets) == 0 {
		return "no targets"
	}
	names := map[string]bool{}
	for _, t := range targets {
		target, _ := t.(map[string]any)
		if why := unknownKey(target, targetKeys); why != "" {
			return why
		}
		name, _ := target["name"].(string)
		if !targetName.MatchString(name) || names[name] {
			return "a target name is missing, malformed or repeated"
		}
		names[name] = true
		source, _ := target["source"].(map[string]any)
		if why := entryRejected(source, "type", "", sourceDocs, "loginCheck", "probeRepository"); why != "" {
			return "source: " + why
		}
		if pr, ok := source["probeRepository"]; ok && pr != nil && (!isString(pr) || !probeRepository.MatchString(pr.(string))) {
			return "probeRepository is not namespace/name"
		}
		// YAML 1.1 reads a bare `off` as false: the documented value all the same.
		if lc, ok := source["loginCheck"]; ok && lc != nil && lc != false && !contains(loginChecks, lc) {
			return "loginCheck is not auto, required or off"
		}
		secrets, _ := target["secrets"].([]any)
		if len(secrets) == 0 {
			return "a target has no secrets"
		}
		for _, s := range secrets {
			secret, _ := s.(map[string]any)
			if why := entryRejected(secret, "store", rotation.DefaultStore, storeDocs); why != "" {
				return "secret: " + why
			}
		}
	}
	return ""
}

// entryRejected checks an entry against the documentation of the kind that
// its kindKey names (def when absent or null).
func entryRejected(entry map[string]any, kindKey, def string, docs map[string]kindDoc, engineKeys ...string) string {
	if entry == nil {
		return "not a mapping"
	}
	kind, _ := entry[kindKey].(string)
	if v, ok := entry[kindKey]; !ok || v == nil {
		kind = def
	}
	doc, ok := docs[kind]
	if !ok {
		return "undocumented kind " + kind
	}
	if why := unknownKey(entry, append(append([]string{kindKey}, engineKeys...), doc.fields...)); why != "" {
		return why
	}
	for _, f := range doc.required {
		if v, ok := entry[f]; !ok || v == nil || v == "" {
			return kind + ": " + f + " is required"
		}
	}
	if doc.rule != nil {
		return doc.rule(entry)
	}
	return ""
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

func unknownKey(m map[string]any, keys []string) string {
	for k := range m {
		if !contains(keys, k) {
			return "unknown key " + k
		}
	}
	return ""
}

func contains[T comparable](list []T, x any) bool {
	for _, e := range list {
		if any(e) == x {
			return true
		}
	}
	return false
}

// configKeys is every documented key, at any depth.
func configKeys() []string {
	keys := append(append(append([]string{"store", "type", "loginCheck", "probeRepository"}, topLevelKeys...), targetKeys...),
		"interval", "margin", "calls", "per")
	for _, docs := range []map[string]kindDoc{storeDocs, sourceDocs} {
		for _, d := range docs {
			keys = append(keys, d.fields...)
		}
	}
	return keys
}

// foldedKey says whether doc holds a key the decoder may take for another
// documented key (tolerated deviation "folded-keys").
func foldedKey(doc any) bool {
	if !knownDeviations["folded-keys"] {
		return false
	}
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			for _, f := range configKeys() {
				if k != f && strings.EqualFold(k, f) {
					return true
				}
			}
			if foldedKey(v) {
				return true
			}
		}
	case []any:
		for _, v := range d {
			if foldedKey(v) {
				return true
			}
		}
	}
	return false
}

// FuzzParseConfig checks ParseConfig's errors, the guarantees of a parsed
// configuration, and that re-marshalling it to JSON parses to the same thing.
func FuzzParseConfig(f *testing.F) {
	// The documented examples; testdata/fuzz/FuzzParseConfig holds the rest.
	f.Add([]byte(validYAML))
	f.Add([]byte(`{"schedule":{"interval":"15m","margin":"5m"},"freshness":"10s","eventCooldown":"5m","throttleWait":"1s",
	 "targets":[{"name":"prod-pull","source":{"type":"acr-ee","instanceId":"cri-abc123","regionId":"cn-hangzhou","domains":[],"loginCheck":"auto"},
	 "secrets":[{"namespaceId":"cn-hangzhou:prod","secretId":16},{"store":"sae","namespaceId":"cn-hangzhou:staging","secretName":"acr-pull"}]}]}`))
	f.Add([]byte(`{"targets":[]}`))
	cat := catalog.Kinds()
	f.Fuzz(func(t *testing.T, data []byte) {
		const origin = "fuzz.yaml"
		cfg, err := rotation.ParseConfig(data, origin, cat)
		again, err2 := rotation.ParseConfig(data, origin, cat)
		if !reflect.DeepEqual(cfg, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("not deterministic on %q", data)
		}
		if err != nil {
			var e *rotation.Error
			if !errors.As(err, &e) || e.Code != rotation.InvalidConfig || !strings.HasPrefix(e.Message, origin+": ") ||
				err.Error() != string(rotation.InvalidConfig)+": "+e.Message {
				t.Fatalf("error on %q is %T %q, want an *Error with code InvalidConfig naming %q first", data, err, err, origin)
			}
			return
		}
		if why := contractRejectsConfig(data); why != "" {
			t.Fatalf("accepted %q, docs/configuration.md refuses it: %s", data, why)
		}
		checkConfig(t, data, cfg, cat)

		// Idempotence: what the function parsed, written out as JSON (the
		// form ROTATOR_CONFIG takes), parses to the same configuration: one
		// that is written out the same.
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("%q: marshal: %v", data, err)
		}
		if knownDeviations["config-control-chars"] && hasControlChars(b) {
			return
		}
		if why := contractRejectsConfig(b); why != "" {
			t.Fatalf("%q parsed, but its JSON %s is refused by docs/configuration.md: %s", data, b, why)
		}
		back, err := rotation.ParseConfig(b, "again", cat)
		if err != nil {
			t.Fatalf("%q parsed, but its JSON %s does not: %v", data, b, err)
		}
		// Compared as JSON: `domains: []` comes back absent, which is the same.
		if b2, err := json.Marshal(back); err != nil || string(b2) != string(b) {
			t.Fatalf("%q: round trip through %s gives %s (%v)", data, b, b2, err)
		}
	})
}

// checkConfig holds the guarantees of a parsed configuration, whatever the
// kinds of its sources and secrets.
func checkConfig(t *testing.T, data []byte, cfg *rotation.Config, cat rotation.Catalog) {
	t.Helper()
	fail := func(what string) { t.Fatalf("%q parsed, but %s: %+v", data, what, cfg) }
	if cfg.Freshness.Duration <= 0 || cfg.Schedule.Margin.Duration <= 0 || cfg.Schedule.Interval.Duration < 0 ||
		cfg.Quota.Calls <= 0 || cfg.Quota.Per.Duration <= 0 || cfg.APITimeout.Duration <= 0 || cfg.Concurrency <= 0 ||
		cfg.EventCooldown.Duration <= 0 || cfg.ThrottleWait.Duration <= 0 {
		fail("a default is missing or a value negative")
	}
	if len(cfg.Targets) == 0 {
		fail("there is no target")
	}
	names := map[string]bool{}
	for _, tg := range cfg.Targets {
		if !targetName.MatchString(tg.Name) || names[tg.Name] {
			fail("target name " + tg.Name + " is malformed or repeated")
		}
		names[tg.Name] = true
		src := tg.Source
		if !contains(loginChecks, src.LoginCheck) {
			fail("loginCheck " + src.LoginCheck + " is not auto, required or off")
		}
		if src.ProbeRepository != "" && !probeRepository.MatchString(src.ProbeRepository) {
			fail("probeRepository " + src.ProbeRepository + " is not namespace/name")
		}
		if kind := sourceKind(cat, src.Type); kind == nil || src.Config == nil ||
			reflect.TypeOf(src.Config) != reflect.TypeOf(kind.NewConfig()) || src.Config.Validate() != nil {
			fail("source " + src.Type + " is not a valid entry of its kind")
		}
		if len(tg.Secrets) == 0 {
			fail("a target has no secrets")
		}
		keys := map[string]bool{}
		for _, s := range tg.Secrets {
			if kind := storeKind(cat, s.Store); kind == nil || s.Ref == nil ||
				reflect.TypeOf(s.Ref) != reflect.TypeOf(kind.NewRef()) || s.Ref.Validate() != nil {
				fail("a secret of store " + s.Store + " is not a valid entry of its store")
			}
			if w := s.Ref.Where(); w.Store != s.Store {
				fail("a secret of store " + s.Store + " is reported in store " + w.Store)
			}
			if k := s.Store + "/" + s.Ref.Key(); keys[k] {
				fail("a target names secret " + k + " twice")
			} else {
				keys[k] = true
			}
		}
	}
}

func storeKind(cat rotation.Catalog, name string) rotation.StoreKind {
	for _, k := range cat.Stores {
		if k.Name() == name {
			return k
		}
	}
	return nil
}

func sourceKind(cat rotation.Catalog, name string) rotation.SourceKind {
	for _, k := range cat.Sources {
		if k.Name() == name {
			return k
		}
	}
	return nil
}

// hasControlChars: a configuration's JSON with strings that show
// "config-control-chars".
func hasControlChars(b []byte) bool {
	var doc any
	_ = json.Unmarshal(b, &doc)
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF })
		case map[string]any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(doc)
}

// TestCatalogIsDocumented: every kind of the catalog has a unique name and
// an entry in the oracle above, so the fuzz target checks it.
func TestCatalogIsDocumented(t *testing.T) {
	cat := catalog.Kinds()
	seen := map[string]bool{}
	for _, k := range cat.Stores {
		if _, ok := storeDocs[k.Name()]; !ok || seen["store "+k.Name()] {
			t.Errorf("store %q is repeated or has no entry in storeDocs", k.Name())
		}
		seen["store "+k.Name()] = true
	}
	for _, k := range cat.Sources {
		if _, ok := sourceDocs[k.Name()]; !ok || seen["source "+k.Name()] {
			t.Errorf("source %q is repeated or has no entry in sourceDocs", k.Name())
		}
		seen["source "+k.Name()] = true
	}
	if !seen["store "+rotation.DefaultStore] {
		t.Errorf("the default store %q is not in the catalog", rotation.DefaultStore)
	}
}
