package rotation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Trigger kinds, as the report names them.
const (
	TriggerTimer  = "timer"
	TriggerEvent  = "event"
	TriggerManual = "manual"
)

// Actions of a manual event.
const (
	ActionRotate = "rotate"
	ActionPlan   = "plan"
)

// Request is a decoded event: what this invocation was asked to do.
type Request struct {
	Trigger   string
	Action    string
	Targets   []string // empty: every target
	Reason    string
	Emergency bool
	DryRun    bool
	// CloudEvent is set for EventBridge events.
	CloudEvent *port.Event
}

// request reads the invocation's event, the reason cut short, into w.req
// and the report's header. The header is filled even when the event is
// refused, so that the report tells what asked for it.
func (w *invocation) request(inv Invocation, rep *Report) error {
	req, err := DecodeEvent(inv.Event)
	req.Reason = cutReason(req.Reason)
	w.req = req
	if err != nil {
		var e *Error
		if inv.Origin != "" && errors.As(err, &e) {
			err = errorf(InvalidEvent, "%s: %s", inv.Origin, e.Message)
		}
		return err
	}
	rep.Trigger, rep.DryRun, rep.Emergency, rep.Reason = req.Trigger, req.DryRun, req.Emergency, req.Reason
	return nil
}

// maxReason bounds a manual event's reason, in characters, in the logs and
// the report: whoever may invoke the function must not fill either.
const maxReason = 256

// cutReason cuts a reason to its first maxReason characters.
func cutReason(s string) string {
	if utf8.RuneCountInString(s) <= maxReason {
		return s
	}
	n := 0
	for i := range s {
		if n == maxReason {
			return s[:i]
		}
		n++
	}
	return s
}

// MaxEventSize is the largest event decoded: anything longer is refused
// before it is parsed, so that no caller can make the function spend memory
// or time on an event.
const MaxEventSize = 1 << 20

// jsonSpace is JSON's white space; other Unicode spaces are not "empty".
const jsonSpace = " \t\r\n"

// manualEvent is the manual invoke's shape; a timer payload may carry it too.
type manualEvent struct {
	Action    *string   `json:"action"`
	Targets   *[]string `json:"targets"`
	Reason    *string   `json:"reason"`
	Emergency *bool     `json:"emergency"`
	DryRun    *bool     `json:"dryRun"`
}

type timerEvent struct {
	TriggerTime string  `json:"triggerTime"`
	TriggerName string  `json:"triggerName"`
	Payload     *string `json:"payload"`
}

// DecodeEvent tells the three event kinds apart by shape (docs/events.md). Every error is an *Error with code InvalidEvent; messages name
// fields, never echo values that could be secrets.
func DecodeEvent(raw []byte) (Request, error) {
	if len(raw) > MaxEventSize {
		return Request{}, errorf(InvalidEvent, "the event is %d bytes, more than the %d (1 MiB) accepted", len(raw), MaxEventSize)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		if why := malformed(raw, err); why != "" {
			return Request{}, errorf(InvalidEvent, "the event %s", why)
		}
		return Request{}, errorf(InvalidEvent, "the event is not a JSON object")
	}
	switch {
	case fields["specversion"] != nil:
		return decodeCloudEvent(raw)
	case fields["triggerTime"] != nil || fields["triggerName"] != nil:
		return decodeTimer(raw)
	case fields["action"] != nil:
		req, err := decodeManual(raw, true)
		req.Trigger = TriggerManual
		return req, err
	default:
		return Request{}, errorf(InvalidEvent, "the event is neither a timer event (triggerTime), an EventBridge CloudEvent (specversion) nor a manual event (action)")
	}
}

func decodeTimer(raw []byte) (Request, error) {
	var ev timerEvent
	if err := strictUnmarshal(raw, &ev); err != nil {
		return Request{}, errorf(InvalidEvent, "timer event: %v", err)
	}
	if ev.TriggerTime == "" || ev.TriggerName == "" {
		return Request{}, errorf(InvalidEvent, "timer event: triggerTime and triggerName are required")
	}
	req := Request{Trigger: TriggerTimer, Action: ActionRotate}
	if ev.Payload == nil || strings.Trim(*ev.Payload, jsonSpace) == "" {
		return req, nil
	}
	p := []byte(*ev.Payload)
	if !isJSONObject(p) {
		why := ""
		if m := malformed(p, json.Unmarshal(p, new(any))); m != "" {
			why = ": the payload " + m
		}
		return Request{}, errorf(InvalidEvent, "timer event: payload must be empty or a JSON object such as {\"targets\":[\"prod-pull\"]}%s", why)
	}
	req, err := decodeManual(p, false)
	if err != nil {
		return Request{}, errorf(InvalidEvent, "timer event: payload: %v", strings.TrimPrefix(err.Error(), string(InvalidEvent)+": "))
	}
	req.Trigger = TriggerTimer
	return req, nil
}

// decodeManual decodes the manual shape; a timer payload may leave out action.
func decodeManual(raw []byte, needAction bool) (Request, error) {
	var ev manualEvent
	if err := strictUnmarshal(raw, &ev); err != nil {
		return Request{}, errorf(InvalidEvent, "manual event: %v", err)
	}
	req := Request{Action: ActionRotate}
	switch {
	case ev.Action == nil && needAction:
		return Request{}, errorf(InvalidEvent, "manual event: action is required (%q or %q)", ActionRotate, ActionPlan)
	case ev.Action == nil:
	case *ev.Action == ActionRotate || *ev.Action == ActionPlan:
		req.Action = *ev.Action
	default:
		return Request{}, errorf(InvalidEvent, "manual event: action must be %q or %q", ActionRotate, ActionPlan)
	}
	if ev.Targets != nil {
		seen := map[string]bool{}
		for i, t := range *ev.Targets {
			if t == "" {
				return Request{}, errorf(InvalidEvent, "manual event: targets[%d] is empty", i)
			}
			if !seen[t] {
				seen[t] = true
				req.Targets = append(req.Targets, t)
			}
		}
	}
	if ev.Reason != nil {
		req.Reason = *ev.Reason
	}
	if ev.Emergency != nil {
		req.Emergency = *ev.Emergency
	}
	if ev.DryRun != nil {
		req.DryRun = *ev.DryRun
	}
	if req.Action == ActionPlan {
		req.DryRun = true
	}
	return req, nil
}

func decodeCloudEvent(raw []byte) (Request, error) {
	// Attributes are read by their exact names; CloudEvents carry many
	// extension attributes, so other keys are fine here.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Request{}, errorf(InvalidEvent, "CloudEvent: malformed JSON")
	}
	attr := func(name string) (string, error) {
		var v string
		if b, ok := fields[name]; ok && json.Unmarshal(b, &v) != nil {
			return "", fmt.Errorf("CloudEvent: %s must be a string", name)
		}
		return v, nil
	}
	var ev [4]string
	for i, name := range []string{"specversion", "id", "source", "type"} {
		v, err := attr(name)
		if err != nil {
			return Request{}, errorf(InvalidEvent, "%v", err)
		}
		ev[i] = v
	}
	switch {
	case ev[0] != "1.0":
		return Request{}, errorf(InvalidEvent, "CloudEvent: specversion must be \"1.0\"")
	case ev[1] == "" || ev[2] == "" || ev[3] == "":
		return Request{}, errorf(InvalidEvent, "CloudEvent: id, source and type are required")
	}
	// The data is the sources' to read (port.SourceConfig.Matches): data of a
	// shape no source knows names nothing, and the event, well formed,
	// simply matches no target.
	ce := &port.Event{ID: ev[1], Source: ev[2], Type: ev[3], Data: fields["data"]}
	return Request{Trigger: TriggerEvent, Action: ActionRotate, CloudEvent: ce}, nil
}

// strictUnmarshal refuses unknown fields and trailing data. Keys must match
// the json tags exactly: encoding/json alone would take "Action" for "action".
func strictUnmarshal(raw []byte, v any) error {
	if err := exactKeys(raw, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(typeErrorText(err))
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// typeErrorText words a decoding error by field, without the offending value.
func typeErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a %s", te.Field, jsonKind(te.Type.Kind().String()))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return "unknown field " + f
	}
	return "malformed JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "list"
	case "map", "struct":
		return "object"
	default:
		return "number"
	}
}

// malformed says where raw stops being JSON ("is malformed JSON at line 1,
// column 18 (byte offset 17)"), or "" when it is JSON (err is not a syntax
// error). Only the position: the content could be a secret.
func malformed(raw []byte, err error) string {
	var se *json.SyntaxError
	switch {
	case len(bytes.Trim(raw, jsonSpace)) == 0:
		return "is empty"
	case !errors.As(err, &se):
		return ""
	case strings.HasPrefix(se.Error(), "unexpected end"):
		line, col := position(raw, len(raw))
		return fmt.Sprintf("is malformed JSON: it ends at line %d, column %d (byte offset %d) before the JSON value does", line, col, len(raw))
	default:
		// Offset counts the bytes read, the offending one included.
		off := max(0, min(int(se.Offset)-1, len(raw)))
		line, col := position(raw, off)
		return fmt.Sprintf("is malformed JSON at line %d, column %d (byte offset %d)", line, col, off)
	}
}

// position is the 1-based line and column (in characters) of byte off.
func position(raw []byte, off int) (line, col int) {
	before := raw[:off]
	start := bytes.LastIndexByte(before, '\n') + 1
	return bytes.Count(before, []byte{'\n'}) + 1, utf8.RuneCount(before[start:]) + 1
}

func isJSONObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// exactKeys refuses an object key that is not exactly one of t's json tags.
func exactKeys(raw []byte, t reflect.Type) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil // the decoder reports it
	}
	allowed := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		allowed[name] = true
	}
	var unknown []string
	for k := range fields {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		// The first in order, so the same event always gets the same error.
		sort.Strings(unknown)
		return fmt.Errorf("unknown field %q", unknown[0])
	}
	return nil
}
