package tests

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// A timer rotation of several secrets across two namespaces, by id and by
// name: every secret holds the new token for every domain of the
// instance's enabled endpoints, and a DescribeSecret follows every write.
func TestTimerRotationAcrossNamespacesByIDAndName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	apps := []emulator.App{{AppID: "app-1", AppName: "prod-api"}, {AppID: "app-2", AppName: "prod-web"}}
	a := w.secret(nsProd, "acr-pull-a", map[string]auth{publicHost: login("cr_temp_user", "old-token-a")}, nil, apps...)
	b := w.secret(nsProd, "acr-pull-b", map[string]auth{}, nil)
	c := w.secret(nsStaging, "acr-pull-c", map[string]auth{}, nil, emulator.App{AppID: "app-3", AppName: "staging-api"})
	d := w.secret(nsStaging, "acr-pull", map[string]auth{vpcHost: login("someone", "old-token-d")}, nil)
	f := w.start(config(
		target("prod-pull", byID(nsProd, a), byName(nsProd, "acr-pull-b")),
		target("staging-pull", byID(nsStaging, c), byName(nsStaging, "acr-pull"))))

	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if failed || rep.Rotated != 4 || rep.Failed != 0 || rep.Trigger != "timer" {
		w.guard.Fatalf("report: failed=%v rotated=%d failed=%d trigger=%q results=%+v", failed, rep.Rotated, rep.Failed, rep.Trigger, rep.Results)
	}
	tok := w.onlyToken() // one token per source per invocation, shared by all its secrets
	if tok.AccessKeyID != sts.AccessKeyID {
		t.Errorf("the token was minted with %q, not the invocation's credentials", tok.AccessKeyID)
	}
	for _, s := range []struct {
		ns string
		id int64
	}{{nsProd, a}, {nsProd, b}, {nsStaging, c}, {nsStaging, d}} {
		w.holdsToken(s.ns, s.id, tok, publicHost, vpcHost)
		if auths, _ := w.dockerConfig(s.ns, s.id); auths[disabledHost] != (auth{}) {
			t.Errorf("secret %s/%d got the disabled endpoint's host", s.ns, s.id)
		}
		if n := w.writes(s.ns, s.id); n != 1 {
			t.Errorf("secret %s/%d was written %d times, want 1", s.ns, s.id, n)
		}
	}

	// Every UpdateSecret is followed by a DescribeSecret of the same secret.
	calls := w.emu.Calls()
	for i, cl := range calls {
		if cl.Action != "UpdateSecret" {
			continue
		}
		verified := false
		for _, later := range calls[i+1:] {
			if later.Action == "DescribeSecret" && later.Query.Get("SecretId") == cl.Query.Get("SecretId") &&
				later.Query.Get("NamespaceId") == cl.Query.Get("NamespaceId") {
				verified = true
			}
		}
		if !verified {
			t.Errorf("UpdateSecret of secret %s/%s is not followed by a DescribeSecret", cl.Query.Get("NamespaceId"), cl.Query.Get("SecretId"))
		}
	}
	// Every cloud API call was signed with the invocation's STS credentials
	// (registry logins use the new token instead).
	for _, cl := range calls {
		if cl.Product == "registry" {
			continue
		}
		if cl.AccessKeyID != sts.AccessKeyID || cl.SecurityToken != sts.SecurityToken || cl.Status != 200 {
			t.Errorf("%s: signed by %q (token presented: %v), answered %d %s", cl.Action, cl.AccessKeyID, cl.SecurityToken != "", cl.Status, cl.Code)
		}
	}

	// The report and the log name the applications of each secret.
	for _, r := range rep.Results {
		if r.Status != rotation.StatusRotated {
			t.Errorf("%s/%d: status %q", nsOf(r), idOf(r), r.Status)
		}
		if !reflect.DeepEqual(r.Registries, []string{publicHost, vpcHost}) {
			t.Errorf("%s/%d: registries %v", nsOf(r), idOf(r), r.Registries)
		}
		if r.ExpiresAt == nil || !r.ExpiresAt.Equal(tok.ExpiresAt.Truncate(time.Second)) {
			t.Errorf("%s/%d: expiresAt %v, want the token's %v", nsOf(r), idOf(r), r.ExpiresAt, tok.ExpiresAt)
		}
		want := appsOf(w.stored(nsOf(r), idOf(r)).RelateApps)
		if !reflect.DeepEqual(r.RelateApps, want) {
			t.Errorf("%s/%d: relateApps %v, want %v", nsOf(r), idOf(r), r.RelateApps, want)
		}
	}
	if got := resultKeys(rep.Results); !reflect.DeepEqual(got, []string{
		fmt.Sprintf("prod-pull %s %d", nsProd, a), fmt.Sprintf("prod-pull %s %d", nsProd, b),
		fmt.Sprintf("staging-pull %s %d", nsStaging, c), fmt.Sprintf("staging-pull %s %d", nsStaging, d)}) {
		t.Errorf("results %v", got)
	}
	lines := 0
	for _, l := range logLines(f.stderr.Bytes()) {
		if l["msg"] == "secret rotated" {
			lines++
			if _, ok := l["relateApps"]; !ok {
				t.Errorf("log line without relateApps: %v", l["secretId"])
			}
		}
	}
	if lines != 4 {
		t.Errorf("%d 'secret rotated' log lines, want one per secret", lines)
	}
}

func appsOf(apps []emulator.App) []rotation.App {
	out := []rotation.App{}
	for _, a := range apps {
		out = append(out, rotation.App{AppID: a.AppID, AppName: a.AppName})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppID < out[j].AppID })
	if len(out) == 0 {
		return nil
	}
	return out
}

func resultKeys(rs []rotation.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %s %d", r.Target, nsOf(r), idOf(r)))
	}
	return out
}

// The merge keeps a foreign registry's entry, the other top-level keys and
// SecretData keys, and collapses a rotated host written as HTTPS://Host/.
func TestMergeKeepsForeignEntries(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	foreign := login("team", "foreign-registry-password")
	shouty := "HTTPS://" + strings.ToUpper(publicHost) + "/"
	enc := encode(t, map[string]auth{
		shouty:                      login("cr_temp_user", "expired-token-value"),
		"registry.example.com:5000": foreign,
	}, map[string]any{"credsStore": "desktop", "HttpHeaders": map[string]string{"User-Agent": "pull/1.0"}})
	id := w.rawSecret(nsProd, "acr-pull", dockerType, map[string]string{".dockerconfigjson": enc, "notes": "owned by platform team"})
	w.guard.Add(foreign.Password, foreign.Auth, "expired-token-value")
	f := w.start(config(target("prod-pull", byID(nsProd, id))))

	if rep, failed := f.invoke(timerEvent(""), time.Minute); failed || rep.Rotated != 1 {
		w.guard.Fatalf("rotation failed: %+v", rep)
	}
	tok := w.onlyToken()
	auths, top := w.dockerConfig(nsProd, id)
	hosts := make([]string, 0, len(auths))
	for h := range auths {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	want := []string{publicHost, vpcHost, "registry.example.com:5000"}
	sort.Strings(want)
	if !reflect.DeepEqual(hosts, want) {
		t.Errorf("auths hosts %v, want %v (the shouted host collapsed into one entry)", hosts, want)
	}
	w.holdsToken(nsProd, id, tok, publicHost, vpcHost)
	if auths["registry.example.com:5000"] != foreign {
		t.Error("the foreign registry's entry changed")
	}
	if string(top["credsStore"]) != `"desktop"` || string(top["HttpHeaders"]) != `{"User-Agent":"pull/1.0"}` {
		t.Errorf("top-level keys changed: credsStore=%s HttpHeaders=%s", top["credsStore"], top["HttpHeaders"])
	}
	if got := w.stored(nsProd, id).Data["notes"]; got != "owned by platform team" {
		t.Errorf("the other SecretData key became %q", got)
	}
}

// An acs.cr event for the configured instance rotates its targets; one for
// another instance, or from another source, writes nothing and succeeds.
func TestRegistryEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	f := w.start(config(target("prod-pull", byID(nsProd, id))))
	event := func(source, instance string) string {
		b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "evt-1", "source": source, "type": "cr:Artifact:PushCompleted",
			"time": "2026-11-23T10:00:00Z", "aliyunaccountid": "123", "aliyunregionid": region,
			"data": map[string]string{"InstanceId": instance, "RegionId": region, "RepoNamespaceName": "team", "RepoName": "app", "Tag": "v2"}})
		return string(b)
	}

	for _, tc := range []struct{ name, source, instance string }{
		{"other instance", "acs.cr", "cri-someoneelse"},
		{"other source", "acs.oss", instanceID},
	} {
		rep, failed := f.invoke(event(tc.source, tc.instance), time.Minute)
		if failed || len(rep.Results) != 0 || rep.Trigger != "event" {
			w.guard.Errorf("%s: failed=%v results=%+v trigger=%q", tc.name, failed, rep.Results, rep.Trigger)
		}
		if n := len(w.emu.Calls()); n != 0 {
			t.Errorf("%s: the function made %d API calls, want none", tc.name, n)
		}
	}

	rep, failed := f.invoke(event("acs.cr", instanceID), time.Minute)
	if failed || rep.Rotated != 1 || rep.Trigger != "event" {
		w.guard.Fatalf("event for the instance: failed=%v %+v", failed, rep)
	}
	w.holdsToken(nsProd, id, w.onlyToken(), publicHost, vpcHost)
}

// plan and dryRun read, but mint no token and write nothing.
func TestPlanAndDryRunWriteNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	apps := []emulator.App{{AppID: "app-9", AppName: "billing"}}
	a := w.secret(nsProd, "acr-pull", map[string]auth{publicHost: login("cr_temp_user", "current-token-value")}, nil, apps...)
	b := w.secret(nsStaging, "acr-pull", map[string]auth{}, nil)
	before := []emulator.Secret{w.stored(nsProd, a), w.stored(nsStaging, b)}
	f := w.start(config(target("prod-pull", byID(nsProd, a), byName(nsStaging, "acr-pull"))))

	for _, event := range []string{
		`{"action":"plan"}`,
		`{"action":"rotate","dryRun":true,"reason":"check before the change window"}`,
		timerEvent(`{"action":"plan"}`),
	} {
		rep, failed := f.invoke(event, time.Minute)
		if failed || !rep.DryRun || rep.Planned != 2 || rep.Rotated != 0 {
			w.guard.Errorf("%s: failed=%v %+v", event, failed, rep)
			continue
		}
		for _, r := range rep.Results {
			if r.Status != rotation.StatusPlanned || !reflect.DeepEqual(r.Registries, []string{publicHost, vpcHost}) {
				t.Errorf("%s: result %s/%d status %q registries %v", event, nsOf(r), idOf(r), r.Status, r.Registries)
			}
		}
		if got := rep.Results[0].RelateApps; !reflect.DeepEqual(got, appsOf(apps)) {
			t.Errorf("%s: planned relateApps %v", event, got)
		}
	}
	if n := len(w.calls("UpdateSecret")); n != 0 {
		t.Errorf("%d UpdateSecret calls in dry runs", n)
	}
	if n := len(w.calls("GetAuthorizationToken")); n != 0 || len(w.emu.Tokens()) != 0 {
		t.Errorf("%d tokens minted in dry runs", n)
	}
	read := map[string]bool{}
	for _, c := range w.calls("DescribeSecret") {
		read[c.Query.Get("SecretId")] = true
	}
	if !read[fmt.Sprint(a)] || !read[fmt.Sprint(b)] {
		t.Error("a plan must read the secrets (DescribeSecret of each)")
	}
	after := []emulator.Secret{w.stored(nsProd, a), w.stored(nsStaging, b)}
	if !reflect.DeepEqual(before, after) {
		t.Error("a dry run changed a secret")
	}
}

// Input the rotator refuses (docs/events.md, docs/configuration.md): the whole invocation fails before anything
// is read or written, and the command line exits 2.
func TestRefusedInvocations(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.secret(nsProd, "acr-pull", map[string]auth{}, nil)
	good := config(target("prod-pull", byID(nsProd, id)))
	before := w.stored(nsProd, id)
	for _, tc := range []struct {
		name, cfg, event string
		env              []string
		code             rotation.Code
		want             string
	}{
		{"not JSON", good, `rotate everything`, nil, rotation.InvalidEvent, "stdin: the event is malformed JSON at line 1, column 1"},
		{"unknown shape", good, `{"hello":"world"}`, nil, rotation.InvalidEvent, "neither"},
		{"bad action", good, `{"action":"destroy"}`, nil, rotation.InvalidEvent, "action must be"},
		{"timer payload not an object", good, timerEvent("rotate"), nil, rotation.InvalidEvent, "payload"},
		{"no configuration", "", `{"action":"rotate"}`, nil, rotation.InvalidConfig, "no configuration"},
		{"empty targets", `{"targets":[]}`, `{"action":"rotate"}`, nil, rotation.InvalidConfig, "targets: at least one target"},
		{"secret without id or name", config(target("prod-pull", `{"namespaceId":"cn-hangzhou:prod"}`)), `{"action":"rotate"}`, nil,
			rotation.InvalidConfig, "targets[0].secrets[0]: secretId or secretName is required"},
		{"both configurations", good, `{"action":"rotate"}`, []string{"ROTATOR_CONFIG_FILE=rotator.yaml"}, rotation.InvalidConfig, "only one of"},
		{"clear-text endpoint", good, `{"action":"rotate"}`, []string{"ROTATOR_SAE_ENDPOINT=http://sae.example.com:8080"}, rotation.InvalidConfig, "loopback"},
		{"unknown target", good, `{"action":"rotate","targets":["prod-pull","nope"]}`, nil, rotation.UnknownTarget, `"nope"`},
	} {
		rep, exit := w.cli(tc.cfg, tc.event, tc.env...)
		if exit != 2 || rep.Error == nil || rep.Error.Code != tc.code || !strings.Contains(rep.Error.Message, tc.want) {
			w.guard.Errorf("%s: exit %d, error %+v; want exit 2 and %s containing %q", tc.name, exit, rep.Error, tc.code, tc.want)
		}
		// A refusal still says what asked for it when the event could be read.
		if want := map[bool]string{true: "manual", false: ""}[tc.code != rotation.InvalidEvent]; rep.Trigger != want {
			t.Errorf("%s: trigger %q, want %q", tc.name, rep.Trigger, want)
		}
		if n := len(w.emu.Calls()); n != 0 {
			t.Errorf("%s: %d API calls were made before refusing", tc.name, n)
		}
	}
	if !reflect.DeepEqual(before, w.stored(nsProd, id)) {
		t.Error("a refused invocation changed the secret")
	}

	// Under FC the refusal ends the invocation in error, with the report.
	f := w.start(good)
	rep, failed := f.invoke(`{"action":"rotate","targets":["nope"]}`, time.Minute)
	if !failed || rep.Error == nil || rep.Error.Code != rotation.UnknownTarget {
		w.guard.Errorf("FC: failed=%v error=%+v", failed, rep.Error)
	}
	if n := len(w.emu.Calls()); n != 0 {
		t.Errorf("FC: %d API calls were made before refusing", n)
	}
}

// Secrets that input makes fail are left untouched and reported with their
// code, and the other secrets of the run still rotate.
func TestPerSecretFailuresLeaveOthersRotating(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	good1 := w.secret(nsProd, "good-1", map[string]auth{}, nil)
	good2 := w.secret(nsStaging, "good-2", map[string]auth{}, nil)
	opaque := w.rawSecret(nsProd, "db-password", "Opaque", map[string]string{"password": "opaque-secret-value"})
	notBase64 := w.rawSecret(nsProd, "broken-1", dockerType, map[string]string{".dockerconfigjson": "%%%not-base64-config%%%"})
	notJSON := w.rawSecret(nsProd, "broken-2", dockerType, map[string]string{".dockerconfigjson": "bm90LWpzb24tY29uZmlnLXZhbHVl"})
	w.secret(nsStaging, "twin", map[string]auth{}, nil)
	w.secret(nsStaging, "twin", map[string]auth{}, nil)
	failing := map[int64]emulator.Secret{}
	for _, id := range []int64{opaque, notBase64, notJSON} {
		failing[id] = w.stored(nsProd, id)
	}
	cfg := config(target("prod-pull",
		byID(nsProd, good1),
		byID(nsProd, 9999),
		byName(nsProd, "no-such-secret"),
		byID(nsProd, opaque),
		byID(nsProd, notBase64),
		byName(nsProd, "broken-2"),
		byName(nsStaging, "twin"),
		byID("cn-hangzhou:no-such-namespace", 1),
		byName(nsStaging, "good-2")))

	check := func(via string, rep rotation.Report) {
		want := map[string]rotation.Code{
			fmt.Sprintf("%s %d", nsProd, good1): "", fmt.Sprintf("%s %d", nsProd, 9999): rotation.SecretNotFound,
			nsProd + " no-such-secret": rotation.SecretNotFound, fmt.Sprintf("%s %d", nsProd, opaque): rotation.UnsupportedSecretType,
			fmt.Sprintf("%s %d", nsProd, notBase64): rotation.CorruptSecretData, nsProd + " broken-2": rotation.CorruptSecretData,
			nsStaging + " twin": rotation.SecretNotFound, "cn-hangzhou:no-such-namespace 1": rotation.SecretNotFound,
			nsStaging + " good-2": "",
		}
		if rep.Rotated != 2 || rep.Failed != 7 || len(rep.Results) != len(want) {
			w.guard.Errorf("%s: rotated %d failed %d of %d results", via, rep.Rotated, rep.Failed, len(rep.Results))
		}
		for i, r := range rep.Results {
			ref := cfgRef(cfg, i)
			code, ok := want[ref]
			switch {
			case !ok:
				t.Errorf("%s: unexpected result %q", via, ref)
			case code == "" && r.Status != rotation.StatusRotated:
				w.guard.Errorf("%s: %s: %q %+v, want rotated", via, ref, r.Status, r.Error)
			case code != "" && (r.Error == nil || r.Error.Code != code):
				w.guard.Errorf("%s: %s: %+v, want %s", via, ref, r.Error, code)
			}
		}
	}

	f := w.start(cfg)
	rep, failed := f.invoke(timerEvent(""), time.Minute)
	if !failed {
		t.Error("FC: an invocation with failed secrets must end in error")
	}
	check("FC", rep)
	tok := w.onlyToken()
	w.holdsToken(nsProd, good1, tok, publicHost, vpcHost)
	w.holdsToken(nsStaging, good2, tok, publicHost, vpcHost)

	rep, exit := w.cli(cfg, `{"action":"rotate"}`)
	if exit != 1 {
		t.Errorf("command line: exit %d, want 1", exit)
	}
	check("command line", rep)

	for id, before := range failing {
		if !reflect.DeepEqual(before, w.stored(nsProd, id)) || w.writes(nsProd, id) != 0 {
			t.Errorf("failing secret %d was written", id)
		}
	}
}

// cfgRef names the i-th secret of the configuration's first target.
func cfgRef(cfg string, i int) string {
	var c struct {
		Targets []struct {
			Secrets []struct {
				NamespaceID string `json:"namespaceId"`
				SecretID    int64  `json:"secretId"`
				SecretName  string `json:"secretName"`
			} `json:"secrets"`
		} `json:"targets"`
	}
	_ = json.Unmarshal([]byte(cfg), &c)
	s := c.Targets[0].Secrets[i]
	if s.SecretName != "" {
		return s.NamespaceID + " " + s.SecretName
	}
	return fmt.Sprintf("%s %d", s.NamespaceID, s.SecretID)
}

// Throttled calls, 5xx answers and lagging reads still end rotated; a write
// the store drops ends VerificationFailed.
func TestCloudMisbehaviour(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		action string
		fault  emulator.Fault
		status string
		code   rotation.Code
		check  func(t *testing.T, w *world)
	}{
		{"throttled", "sae", emulator.Fault{Throttle: 3}, rotation.StatusRotated, "", func(t *testing.T, w *world) {
			n := 0
			for _, c := range w.emu.Calls() {
				if c.Code == "Throttling.User" {
					n++
				}
			}
			if n != 3 {
				t.Errorf("%d throttled calls, want 3", n)
			}
		}},
		{"5xx on write", "UpdateSecret", emulator.Fault{Fail: 2, FailStatus: 503}, rotation.StatusRotated, "", nil},
		{"5xx on token", "GetAuthorizationToken", emulator.Fault{Fail: 1}, rotation.StatusRotated, "", nil},
		{"lagging reads", "DescribeSecret", emulator.Fault{LagReads: 2}, rotation.StatusRotated, "", func(t *testing.T, w *world) {
			if n := len(w.calls("DescribeSecret")); n < 3 {
				t.Errorf("%d DescribeSecret calls: the lagging reads were not retried", n)
			}
		}},
		{"dropped write", "UpdateSecret", emulator.Fault{DropWrites: 1}, rotation.StatusFailed, rotation.VerificationFailed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			id := w.secret(nsProd, "acr-pull", map[string]auth{"docker.io": login("team", "docker-hub-password")}, nil)
			before := w.stored(nsProd, id)
			w.emu.SetFault(tc.action, tc.fault)
			f := w.start(config(target("prod-pull", byID(nsProd, id))))
			rep, failed := f.invoke(timerEvent(""), time.Minute)
			if len(rep.Results) != 1 {
				w.guard.Fatalf("results: %+v", rep.Results)
			}
			r := rep.Results[0]
			if r.Status != tc.status || (tc.code != "" && (r.Error == nil || r.Error.Code != tc.code)) || failed != (tc.status == rotation.StatusFailed) {
				w.guard.Fatalf("status %q error %+v failed=%v; want %q %s", r.Status, r.Error, failed, tc.status, tc.code)
			}
			if tc.status == rotation.StatusRotated {
				w.holdsToken(nsProd, id, w.onlyToken(), publicHost, vpcHost)
			} else if !reflect.DeepEqual(before, w.stored(nsProd, id)) {
				t.Error("the secret changed although the write was dropped")
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}
