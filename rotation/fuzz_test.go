package rotation

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"sigs.k8s.io/yaml"
)

// knownDeviations are contract deviations of the code under test that were
// reported rather than fixed here (see README, "Fuzzing"). While an entry is
// true the fuzz targets stop asserting on inputs that show it, so fuzzing can
// go past them; set it to false once the code is fixed, and the seeds named
// after it (testdata/fuzz/*/known-*) then check the fix.
var knownDeviations = map[string]bool{
	// encoding/json matches struct fields case-insensitively, so DecodeEvent
	// takes "Action", "DryRun", "ID", "DATA"... for the contract's keys, and
	// ParseConfig takes "Targets" for "targets".
	"folded-keys": false,
	// DecodeEvent refuses a CloudEvent whose data is a JSON value other than an
	// object, though the contract has any well-formed CloudEvent succeed.
	"cloudevent-data-not-object": false,
	// ParseConfig accepts control characters (and U+FFFE/U+FFFF) in secretName
	// and domains; encoding/json writes them raw, and the YAML reader then
	// refuses them (or folds NEL into a space), so such a config cannot be
	// re-read.
	"config-control-chars": false,
}

// sameKey says whether the decoder may take JSON key k for field name:
// exactly, or folded while that deviation is tolerated.
func sameKey(k, name string) bool {
	return k == name || knownDeviations["folded-keys"] && strings.EqualFold(k, name)
}

// member is one name/value pair of a JSON object.
type member struct {
	key string
	val json.RawMessage
}

// jsonObject is a JSON object as written: members in order, duplicates kept,
// which a map would hide.
type jsonObject []member

// parseObject is the test's own reading of "b is exactly one JSON object".
func parseObject(b []byte) (jsonObject, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var o jsonObject
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		o = append(o, member{tok.(string), bytes.TrimSpace(v)})
	}
	return o, true
}

// has reports an exactly named member: the contract tells shapes apart by it.
func (o jsonObject) has(name string) bool {
	for _, m := range o {
		if m.key == name {
			return true
		}
	}
	return false
}

// last is the value of the last exactly named member (nil when absent).
func (o jsonObject) last(name string) json.RawMessage {
	var v json.RawMessage
	for _, m := range o {
		if m.key == name {
			v = m.val
		}
	}
	return v
}

// all is every value the decoder may have taken for name.
func (o jsonObject) all(name string) []json.RawMessage {
	var vs []json.RawMessage
	for _, m := range o {
		if sameKey(m.key, name) {
			vs = append(vs, m.val)
		}
	}
	return vs
}

// ambiguous says whether the contract is silent on which member of o gives a
// field: a repeated key (JSON leaves that open), or a tolerated folded key.
func (o jsonObject) ambiguous(fields ...string) bool {
	for _, f := range fields {
		n := 0
		for _, m := range o {
			if m.key == f {
				n++
			} else if sameKey(m.key, f) {
				return true
			}
		}
		if n > 1 {
			return true
		}
	}
	return false
}

// unknownKey returns a key of o that is none of fields, exactly.
func (o jsonObject) unknownKey(fields ...string) (string, bool) {
	for _, m := range o {
		if !contains(fields, m.key) {
			return m.key, true
		}
	}
	return "", false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// JSON value kinds, by the value's first byte.
func isNull(v json.RawMessage) bool { return string(v) == "null" }

func jsonString(v json.RawMessage) (string, bool) {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

func jsonBool(v json.RawMessage) bool { return string(v) == "true" }

func isBool(v json.RawMessage) bool { return string(v) == "true" || string(v) == "false" }

// blank is the test's reading of "an empty payload": nothing but white space.
func blank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// verdict is what the contract says of an event.
type verdict int

const (
	unsure verdict = iota // the contract is silent, or a known deviation applies
	accept                // with the Request the oracle computed
	reject                // InvalidEvent
)

// Keys of the three event shapes (CONTRACT.md, "Events").
var (
	timerKeys  = []string{"triggerTime", "triggerName", "payload"}
	manualKeys = []string{"action", "targets", "reason", "emergency", "dryRun"}
	cloudKeys  = []string{"specversion", "id", "source", "type", "data"}
)

// contractEvent is an oracle written from CONTRACT.md alone, not from
// DecodeEvent: what the contract makes of raw, and the Request it means when
// it accepts. Optional members that are null count as absent; required ones
// that are null are missing.
func contractEvent(raw []byte) (verdict, Request, string) {
	o, ok := parseObject(raw)
	switch {
	case !ok:
		return reject, Request{}, "not a JSON object"
	case o.has("specversion"):
		return contractCloudEvent(o)
	case o.has("triggerTime") || o.has("triggerName"):
		return contractTimer(o)
	case o.has("action"):
		v, req, why := contractManual(o, true)
		req.Trigger = TriggerManual
		return v, req, why
	default:
		return reject, Request{}, "no shape"
	}
}

func contractTimer(o jsonObject) (verdict, Request, string) {
	if o.ambiguous(timerKeys...) {
		return unsure, Request{}, ""
	}
	if k, ok := o.unknownKey(timerKeys...); ok {
		return reject, Request{}, "timer key " + k
	}
	for _, k := range timerKeys[:2] {
		if s, ok := jsonString(o.last(k)); !ok || s == "" {
			return reject, Request{}, k + " missing or not a non-empty string"
		}
	}
	req := Request{Trigger: TriggerTimer, Action: ActionRotate}
	p := o.last("payload")
	if p == nil || isNull(p) {
		return accept, req, ""
	}
	s, ok := jsonString(p)
	if !ok {
		return reject, Request{}, "payload not a string"
	}
	if blank(s) {
		return accept, req, ""
	}
	inner, ok := parseObject([]byte(s))
	if !ok {
		return reject, Request{}, "payload not a JSON object"
	}
	v, req, why := contractManual(inner, false)
	req.Trigger = TriggerTimer
	return v, req, why
}

func contractManual(o jsonObject, needAction bool) (verdict, Request, string) {
	if o.ambiguous(manualKeys...) {
		return unsure, Request{}, ""
	}
	if k, ok := o.unknownKey(manualKeys...); ok {
		return reject, Request{}, "manual key " + k
	}
	req := Request{Action: ActionRotate}
	switch a := o.last("action"); {
	case (a == nil || isNull(a)) && needAction:
		return reject, Request{}, "action missing"
	case a == nil || isNull(a):
	default:
		s, _ := jsonString(a)
		if s != ActionRotate && s != ActionPlan {
			return reject, Request{}, "bad action"
		}
		req.Action = s
	}
	if t := o.last("targets"); t != nil && !isNull(t) {
		var list []json.RawMessage
		if len(t) == 0 || t[0] != '[' || json.Unmarshal(t, &list) != nil {
			return reject, Request{}, "targets not a list"
		}
		for _, e := range list {
			name, ok := jsonString(e)
			if !ok || name == "" {
				return reject, Request{}, "a target is not a non-empty string"
			}
			if !contains(req.Targets, name) {
				req.Targets = append(req.Targets, name)
			}
		}
	}
	if r := o.last("reason"); r != nil && !isNull(r) {
		s, ok := jsonString(r)
		if !ok {
			return reject, Request{}, "reason not a string"
		}
		req.Reason = s
	}
	for _, k := range []string{"emergency", "dryRun"} {
		if b := o.last(k); b != nil && !isNull(b) && !isBool(b) {
			return reject, Request{}, k + " not a boolean"
		}
	}
	req.Emergency = jsonBool(o.last("emergency"))
	req.DryRun = jsonBool(o.last("dryRun")) || req.Action == ActionPlan
	return accept, req, ""
}

func contractCloudEvent(o jsonObject) (verdict, Request, string) {
	if o.ambiguous(cloudKeys...) {
		return unsure, Request{}, ""
	}
	if s, ok := jsonString(o.last("specversion")); !ok || s != "1.0" {
		return reject, Request{}, "specversion not \"1.0\""
	}
	reg := &RegistryEvent{}
	for _, f := range []struct {
		key string
		to  *string
	}{{"id", &reg.ID}, {"source", &reg.Source}, {"type", &reg.Type}} {
		s, ok := jsonString(o.last(f.key))
		if !ok || s == "" {
			return reject, Request{}, f.key + " missing or not a non-empty string"
		}
		*f.to = s
	}
	if d := o.last("data"); d != nil && !isNull(d) {
		data, ok := parseObject(d)
		if !ok && knownDeviations["cloudevent-data-not-object"] {
			return unsure, Request{}, ""
		}
		reg.InstanceID, _ = jsonString(data.last("InstanceId"))
		reg.RegionID, _ = jsonString(data.last("RegionId"))
	}
	return accept, Request{Trigger: TriggerEvent, Action: ActionRotate, Registry: reg}, ""
}

// FuzzDecodeEvent checks DecodeEvent against the contract's invariants and
// against contractEvent, not just for panics.
func FuzzDecodeEvent(f *testing.F) {
	// The contract's own examples; testdata/fuzz/FuzzDecodeEvent holds the rest.
	for _, s := range []string{
		`{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"every15m","payload":""}`,
		`{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"every15m","payload":"{\"targets\":[\"prod-pull\"]}"}`,
		`{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"every15m","payload":"{\"action\":\"plan\"}"}`,
		`{"specversion":"1.0","id":"e1","source":"acs.cr","type":"cr:Artifact:PushCompleted","data":{"InstanceId":"cri-abc123","RegionId":"cn-hangzhou"}}`,
		`{"action":"rotate","targets":["prod-pull"],"reason":"leak","emergency":false,"dryRun":false}`,
		`{"action":"plan"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := DecodeEvent(raw)
		again, err2 := DecodeEvent(raw)
		if !reflect.DeepEqual(req, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("not deterministic on %q: %+v, %v then %+v, %v", raw, req, err, again, err2)
		}
		v, want, why := contractEvent(raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != InvalidEvent {
				t.Fatalf("error on %q is %T %v, want an *Error with code InvalidEvent", raw, err, err)
			}
			if v == accept {
				t.Fatalf("refused %q (%v), the contract accepts it as %+v", raw, err, want)
			}
			return
		}
		if v == reject {
			t.Fatalf("accepted %q as %+v, the contract refuses it: %s", raw, req, why)
		}
		if v == accept && !reflect.DeepEqual(req, want) {
			t.Fatalf("%q decoded as %+v (registry %+v), the contract means %+v (registry %+v)", raw, req, req.Registry, want, want.Registry)
		}
		checkRequest(t, raw, req)
	})
}

// checkRequest holds the invariants of a decoded event, whatever the oracle
// could say about it.
func checkRequest(t *testing.T, raw []byte, req Request) {
	t.Helper()
	o, ok := parseObject(raw)
	if !ok {
		t.Fatalf("accepted %q, which is not a JSON object", raw)
	}
	if !contains([]string{TriggerTimer, TriggerEvent, TriggerManual}, req.Trigger) ||
		!contains([]string{ActionRotate, ActionPlan}, req.Action) {
		t.Fatalf("%q: trigger %q, action %q", raw, req.Trigger, req.Action)
	}
	if req.Action == ActionPlan && !req.DryRun {
		t.Fatalf("%q: plan without dry run", raw)
	}
	if (req.Registry != nil) != (req.Trigger == TriggerEvent) {
		t.Fatalf("%q: trigger %q with registry %+v", raw, req.Trigger, req.Registry)
	}
	seen := map[string]bool{}
	for _, name := range req.Targets {
		if name == "" || seen[name] {
			t.Fatalf("%q: targets %q hold an empty name or a duplicate", raw, req.Targets)
		}
		seen[name] = true
	}
	if !o.has("specversion") && (o.has("triggerTime") || o.has("triggerName")) {
		if req.Trigger != TriggerTimer {
			t.Fatalf("%q: timer-shaped, decoded as %q", raw, req.Trigger)
		}
		if ps := o.all("payload"); len(ps) > 0 && !anyOf(ps, emptyOrObject) {
			t.Fatalf("%q: accepted a payload that is neither empty nor a JSON object", raw)
		}
	}
	switch req.Trigger {
	case TriggerManual:
		for _, m := range o {
			if !anyOf(manualKeys, func(f string) bool { return sameKey(m.key, f) }) {
				t.Fatalf("%q: manual event accepted with key %q", raw, m.key)
			}
		}
		if !anyOf(o.all("action"), func(v json.RawMessage) bool { s, _ := jsonString(v); return s == req.Action }) {
			t.Fatalf("%q: action %q is not the event's", raw, req.Action)
		}
	case TriggerEvent:
		isString := func(want string) func(json.RawMessage) bool {
			return func(v json.RawMessage) bool { s, ok := jsonString(v); return ok && s == want }
		}
		r := req.Registry
		if !anyOf(o.all("specversion"), isString("1.0")) || r.ID == "" || r.Source == "" || r.Type == "" ||
			!anyOf(o.all("id"), isString(r.ID)) || !anyOf(o.all("source"), isString(r.Source)) || !anyOf(o.all("type"), isString(r.Type)) {
			t.Fatalf("%q: CloudEvent accepted as %+v", raw, r)
		}
	}
}

func anyOf[T any](list []T, ok func(T) bool) bool {
	for _, x := range list {
		if ok(x) {
			return true
		}
	}
	return false
}

// emptyOrObject: a timer payload the contract accepts.
func emptyOrObject(p json.RawMessage) bool {
	if isNull(p) {
		return true
	}
	s, ok := jsonString(p)
	if !ok {
		return false
	}
	_, isObject := parseObject([]byte(s))
	return blank(s) || isObject
}

// Configuration keys (CONTRACT.md, "Configuration", and config.go's
// documented optional fields).
var configKeys = []string{
	"schedule", "interval", "margin", "freshness", "quota", "calls", "per", "apiTimeout", "concurrency",
	"targets", "name", "source", "type", "instanceId", "regionId", "domains", "secrets",
	"namespaceId", "secretId", "secretName",
}

var (
	fuzzTargetName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	topLevelKeys   = []string{"schedule", "freshness", "quota", "apiTimeout", "concurrency", "targets"}
)

// contractRejectsConfig is a small oracle from CONTRACT.md: a reason the
// contract refuses the configuration, or "" when it cannot tell. It reads the
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
	for k := range top {
		if !contains(topLevelKeys, k) {
			return "unknown key " + k
		}
	}
	targets, _ := top["targets"].([]any)
	if len(targets) == 0 {
		return "no targets"
	}
	names := map[string]bool{}
	for _, t := range targets {
		target, _ := t.(map[string]any)
		name, _ := target["name"].(string)
		if !fuzzTargetName.MatchString(name) || names[name] {
			return "a target name is missing, malformed or repeated"
		}
		names[name] = true
		if source, _ := target["source"].(map[string]any); source["type"] != SourceACREE {
			return "source type is not acr-ee"
		}
		secrets, _ := target["secrets"].([]any)
		if len(secrets) == 0 {
			return "a target has no secrets"
		}
		for _, s := range secrets {
			secret, _ := s.(map[string]any)
			id, _ := secret["secretId"].(float64)
			name, _ := secret["secretName"].(string)
			if (id != 0) == (name != "") {
				return "a secret has both or neither of secretId and secretName"
			}
		}
	}
	return ""
}

// foldedKey says whether doc holds a key the decoder may take for another
// configuration key (tolerated deviation "folded-keys").
func foldedKey(doc any) bool {
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			if !contains(configKeys, k) && anyOf(configKeys, func(f string) bool { return sameKey(k, f) }) || foldedKey(v) {
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
	// The contract's example; testdata/fuzz/FuzzParseConfig holds the rest.
	f.Add([]byte(validYAML))
	f.Add([]byte(`{"schedule":{"interval":"15m","margin":"5m"},"freshness":"10s",
	 "targets":[{"name":"prod-pull","source":{"type":"acr-ee","instanceId":"cri-abc123","regionId":"cn-hangzhou","domains":[]},
	 "secrets":[{"namespaceId":"cn-hangzhou:prod","secretId":16},{"namespaceId":"cn-hangzhou:staging","secretName":"acr-pull"}]}]}`))
	f.Add([]byte(`{"targets":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const origin = "fuzz.yaml"
		cfg, err := ParseConfig(data, origin)
		again, err2 := ParseConfig(data, origin)
		if !reflect.DeepEqual(cfg, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("not deterministic on %q", data)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != InvalidConfig || !strings.HasPrefix(e.Message, origin+": ") ||
				err.Error() != string(InvalidConfig)+": "+e.Message {
				t.Fatalf("error on %q is %T %q, want an *Error with code InvalidConfig naming %q first", data, err, err, origin)
			}
			return
		}
		if why := contractRejectsConfig(data); why != "" {
			t.Fatalf("accepted %q, the contract refuses it: %s", data, why)
		}
		checkConfig(t, data, cfg)

		// Idempotence: what the function parsed, written out as JSON (the
		// form ROTATOR_CONFIG takes), parses to the same configuration.
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("%q: marshal: %v", data, err)
		}
		if knownDeviations["config-control-chars"] && hasControlChars(cfg) {
			return
		}
		back, err := ParseConfig(b, "again")
		if err != nil {
			t.Fatalf("%q parsed, but its JSON %s does not: %v", data, b, err)
		}
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("%q: round trip through %s gives %+v, want %+v", data, b, back, cfg)
		}
	})
}

// checkConfig holds the guarantees of a parsed configuration.
func checkConfig(t *testing.T, data []byte, cfg *Config) {
	t.Helper()
	fail := func(what string) { t.Fatalf("%q parsed, but %s: %+v", data, what, cfg) }
	if cfg.Freshness.Duration <= 0 || cfg.Schedule.Margin.Duration <= 0 || cfg.Schedule.Interval.Duration < 0 ||
		cfg.Quota.Calls <= 0 || cfg.Quota.Per.Duration <= 0 || cfg.APITimeout.Duration <= 0 || cfg.Concurrency <= 0 {
		fail("a default is missing or a value negative")
	}
	if len(cfg.Targets) == 0 {
		fail("there is no target")
	}
	names := map[string]bool{}
	for _, tg := range cfg.Targets {
		if !fuzzTargetName.MatchString(tg.Name) || names[tg.Name] {
			fail("target name " + tg.Name + " is malformed or repeated")
		}
		names[tg.Name] = true
		if s := tg.Source; s.Type != SourceACREE || s.InstanceID == "" || s.RegionID == "" {
			fail("a source is incomplete")
		}
		for _, d := range tg.Source.Domains {
			if blank(d) {
				fail("a domain is blank")
			}
		}
		if len(tg.Secrets) == 0 {
			fail("a target has no secrets")
		}
		for _, s := range tg.Secrets {
			if (s.SecretID > 0) == (s.SecretName != "") || s.SecretID < 0 || s.NamespaceID == "" || s.Region() == "" {
				fail("a secret is not exactly one of secretId > 0 and secretName, with a namespace")
			}
		}
	}
}

// hasControlChars: secret names or domains that show "config-control-chars".
func hasControlChars(cfg *Config) bool {
	bad := func(s string) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF })
	}
	for _, tg := range cfg.Targets {
		if anyOf(tg.Source.Domains, bad) || anyOf(tg.Secrets, func(s SecretRef) bool { return bad(s.SecretName) }) {
			return true
		}
	}
	return false
}
