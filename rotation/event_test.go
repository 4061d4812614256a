package rotation

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Request
	}{
		{"timer, empty payload", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"every20m","payload":""}`,
			Request{Trigger: TriggerTimer, Action: ActionRotate}},
		{"timer, no payload", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t"}`,
			Request{Trigger: TriggerTimer, Action: ActionRotate}},
		{"timer, scoped payload", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"{\"targets\":[\"prod-pull\"]}"}`,
			Request{Trigger: TriggerTimer, Action: ActionRotate, Targets: []string{"prod-pull"}}},
		{"timer, scheduled audit", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"{\"action\":\"plan\"}"}`,
			Request{Trigger: TriggerTimer, Action: ActionPlan, DryRun: true}},
		{"manual rotate", `{"action":"rotate","targets":["a","b","a"],"reason":"leak","emergency":true}`,
			Request{Trigger: TriggerManual, Action: ActionRotate, Targets: []string{"a", "b"}, Reason: "leak", Emergency: true}},
		{"manual plan", `{"action":"plan"}`, Request{Trigger: TriggerManual, Action: ActionPlan, DryRun: true}},
		{"manual dry run", `{"action":"rotate","dryRun":true,"targets":[]}`, Request{Trigger: TriggerManual, Action: ActionRotate, DryRun: true}},
		{"acr event", `{"specversion":"1.0","id":"e1","source":"acs.cr","type":"cr:Artifact:PushCompleted","time":"2026-11-23T10:00:00Z",
			"aliyunaccountid":"1","data":{"InstanceId":"cri-abc","RegionId":"cn-hangzhou","RepoName":"app","Tag":"v1"}}`,
			Request{Trigger: TriggerEvent, Action: ActionRotate, CloudEvent: &port.Event{ID: "e1", Source: "acs.cr",
				Type: "cr:Artifact:PushCompleted", Data: []byte(`{"InstanceId":"cri-abc","RegionId":"cn-hangzhou","RepoName":"app","Tag":"v1"}`)}}},
		{"other source", `{"specversion":"1.0","id":"e2","source":"acs.oss","type":"oss:ObjectCreated:PutObject","data":{}}`,
			Request{Trigger: TriggerEvent, Action: ActionRotate, CloudEvent: &port.Event{ID: "e2", Source: "acs.oss", Type: "oss:ObjectCreated:PutObject", Data: []byte(`{}`)}}},
		{"data not an object", `{"specversion":"1.0","id":"e3","source":"acs.cr","type":"t","data":"aGVsbG8="}`,
			Request{Trigger: TriggerEvent, Action: ActionRotate, CloudEvent: &port.Event{ID: "e3", Source: "acs.cr", Type: "t", Data: []byte(`"aGVsbG8="`)}}},
		{"folded data is not data", `{"specversion":"1.0","id":"e4","source":"acs.cr","type":"t","DATA":{"InstanceId":"cri-b"}}`,
			Request{Trigger: TriggerEvent, Action: ActionRotate, CloudEvent: &port.Event{ID: "e4", Source: "acs.cr", Type: "t"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeEventRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not JSON", `rotate please`, "the event is malformed JSON at line 1, column 1 (byte offset 0)"},
		{"trailing comma", `{"action":"plan",}`, "the event is malformed JSON at line 1, column 18 (byte offset 17)"},
		{"second line", "{\n  \"action\": plan\n}", "the event is malformed JSON at line 2, column 13 (byte offset 14)"},
		{"characters, not bytes", "{\"reason\":\"été\" x}", "the event is malformed JSON at line 1, column 17 (byte offset 18)"},
		{"cut short", "{\"action\":\n\"plan\"", "the event is malformed JSON: it ends at line 2, column 7 (byte offset 17) before the JSON value does"},
		{"empty", "", "the event is empty"},
		{"blank", " \n\t", "the event is empty"},
		{"timer payload malformed", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"{\"targets\":[\"a\"]"}`,
			"payload must be empty or a JSON object such as {\"targets\":[\"prod-pull\"]}: the payload is malformed JSON: it ends at line 1, column 17 (byte offset 16) before the JSON value does"},
		{"array", `[1,2]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"empty object", `{}`, "neither"},
		{"unknown shape", `{"hello":"world"}`, "neither"},
		{"bad action", `{"action":"delete"}`, `action must be "rotate" or "plan"`},
		{"unknown field", `{"action":"rotate","force":true}`, `unknown field "force"`},
		{"emergency not bool", `{"action":"rotate","emergency":"yes"}`, "emergency must be a boolean"},
		{"targets not list", `{"action":"rotate","targets":"a"}`, "targets must be a list"},
		{"empty target", `{"action":"rotate","targets":[""]}`, "targets[0] is empty"},
		{"trailing data", `{"action":"rotate"} {"action":"plan"}`, "the event is malformed JSON at line 1, column 21 (byte offset 20)"},
		{"timer payload not object", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"rotate"}`, "payload must be empty or a JSON object"},
		{"timer payload array", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"[1]"}`, "payload must be empty or a JSON object"},
		{"timer payload bad action", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"{\"action\":\"nuke\"}"}`, "payload: manual event: action must be"},
		{"timer missing name", `{"triggerTime":"2026-11-23T10:00:00Z"}`, "triggerTime and triggerName are required"},
		{"timer extra field", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","cron":"x"}`, `unknown field "cron"`},
		{"cloudevent old spec", `{"specversion":"0.3","id":"1","source":"acs.cr","type":"t"}`, `specversion must be "1.0"`},
		{"cloudevent no id", `{"specversion":"1.0","source":"acs.cr","type":"t"}`, "id, source and type are required"},
		{"folded manual key", `{"action":"plan","Action":"rotate"}`, `unknown field "Action"`},
		{"folded dryRun", `{"action":"rotate","DryRun":true}`, `unknown field "DryRun"`},
		{"folded timer key", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","Payload":""}`, `unknown field "Payload"`},
		{"folded payload key", `{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"{\"Targets\":[\"a\"]}"}`, `unknown field "Targets"`},
		{"cloudevent folded id", `{"specversion":"1.0","id":"","ID":"x","source":"acs.cr","type":"t"}`, "id, source and type are required"},
		{"cloudevent id not string", `{"specversion":"1.0","id":7,"source":"acs.cr","type":"t"}`, "id must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tc.in))
			if err == nil {
				t.Fatalf("accepted %s", tc.in)
			}
			if CodeOf(err) != InvalidEvent {
				t.Errorf("code = %q, want InvalidEvent", CodeOf(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"targets":[
	 {"name":"a","source":{"type":"test-source","instance":"i-1"},"secrets":[{"store":"test-store","name":"s1"},{"store":"test-store","name":"s2"}]},
	 {"name":"b","source":{"type":"test-source","instance":"i-2"},"secrets":[{"store":"test-store","name":"s3"}]}]}`), "t", testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	names := func(items []item) (out []string) {
		for _, it := range items {
			out = append(out, it.target.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		req  Request
		want []string
		code Code
	}{
		{"all", Request{}, []string{"a", "a", "b"}, ""},
		{"scoped", Request{Targets: []string{"b"}}, []string{"b"}, ""},
		{"unknown target", Request{Targets: []string{"b", "c"}}, nil, UnknownTarget},
		// Which events a source matches is its kind's (internal/catalog tests acr-ee's).
		{"event for instance", Request{CloudEvent: &port.Event{Source: "acs.cr", Data: []byte(`{"Instance":"i-2"}`)}}, []string{"b"}, ""},
		{"event for other instance", Request{CloudEvent: &port.Event{Source: "acs.cr", Data: []byte(`{"Instance":"i-9"}`)}}, nil, ""},
		{"event for no instance", Request{CloudEvent: &port.Event{Source: "acs.oss"}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := cfg.plan(tc.req)
			if CodeOf(err) != tc.code {
				t.Fatalf("err = %v, want code %q", err, tc.code)
			}
			if got := names(items); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("targets = %v, want %v", got, tc.want)
			}
		})
	}
}

// A malformed event is located, never quoted: it could hold a secret.
func TestMalformedEventIsNotQuoted(t *testing.T) {
	for _, in := range []string{`{"reason":"hunter2-secret" sneaky}`, `hunter2-secret`, `{"reason":"hunter2-secret`,
		`{"triggerTime":"2026-11-23T10:00:00Z","triggerName":"t","payload":"{\"reason\":\"hunter2-secret\" sneaky"}`} {
		_, err := DecodeEvent([]byte(in))
		if err == nil || !strings.Contains(err.Error(), "malformed JSON") {
			t.Fatalf("%s: error %v, want malformed JSON", in, err)
		}
		for _, piece := range []string{"hunter2", "secret", "sneaky", "'"} {
			if strings.Contains(strings.TrimPrefix(err.Error(), "InvalidEvent: "), piece) {
				t.Errorf("the error %q quotes the event (%q)", err, piece)
			}
		}
	}
}

// An event over 1 MiB is refused before it is parsed: a well-formed one
// too, and at the cost of the error alone.
func TestEventOverOneMiBIsRefusedUnparsed(t *testing.T) {
	event := func(size int) []byte {
		head, tail := `{"action":"plan","reason":"`, `"}`
		return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
	}
	const oneMiB = 1 << 20 // the documented bound, spelled out
	if _, err := DecodeEvent(event(oneMiB)); err != nil {
		t.Fatalf("an event of exactly 1 MiB: %v", err)
	}
	big := event(oneMiB + 1)
	_, err := DecodeEvent(big)
	if CodeOf(err) != InvalidEvent || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("an event of 1 MiB + 1 byte: %v, want InvalidEvent naming the bound", err)
	}
	if allocs := testing.AllocsPerRun(5, func() { _, _ = DecodeEvent(big) }); allocs > 10 {
		t.Errorf("refusing it cost %.0f allocations: it was parsed", allocs)
	}
}
