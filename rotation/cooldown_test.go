package rotation

import (
	"testing"
	"time"
)

// The judgement of the event cooldown and the retry rule: the later of this
// instance's last rotation and the store's record, the record counting
// only where every host of the source already has an auths entry.
func TestLastChange(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	early, late := t0.Add(-4*time.Minute), t0.Add(-time.Minute)
	hosts := []string{"r.example.com", "r-vpc.example.com"}
	both := []byte(`{"auths":{"r.example.com":{"auth":"eDp5"},"HTTPS://R-VPC.example.com/":{"auth":"eDp5"},"docker.io":{}}}`)
	oneMissing := []byte(`{"auths":{"r.example.com":{"auth":"eDp5"},"docker.io":{}}}`)
	for _, tc := range []struct {
		name    string
		rotated time.Time
		sec     Secret
		hosts   []string
		want    time.Time
	}{
		{"nothing known", time.Time{}, Secret{}, hosts, time.Time{}},
		{"instance memory only, before the read", late, Secret{}, nil, late},
		{"instance memory only, the store keeps no record", late, Secret{Config: both}, hosts, late},
		{"store record only", time.Time{}, Secret{Config: both, Changed: late}, hosts, late},
		{"both, the record later", early, Secret{Config: both, Changed: late}, hosts, late},
		{"both, the memory later", late, Secret{Config: both, Changed: early}, hosts, late},
		{"zero record", time.Time{}, Secret{Config: both}, hosts, time.Time{}},
		{"a record, but a host has no entry", time.Time{}, Secret{Config: oneMissing, Changed: late}, hosts, time.Time{}},
		{"a record, a host missing, the memory stands", early, Secret{Config: oneMissing, Changed: late}, hosts, early},
		{"a record, the config does not decode", time.Time{}, Secret{Config: []byte(`{"auths":[]}`), Changed: late}, hosts, time.Time{}},
		{"a record, no config", time.Time{}, Secret{Changed: late}, hosts, time.Time{}},
	} {
		if got := lastChange(tc.rotated, tc.sec, tc.hosts); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Which runs the cooldown stops, and for how long: event runs and FC's
// retries (but a plan's), for less than eventCooldown since the change; a
// change further in the future than the cooldown is not believed.
func TestCoolingDown(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	hosts := []string{"r.example.com"}
	held := func(changed time.Time) Secret {
		return Secret{Config: []byte(`{"auths":{"r.example.com":{"auth":"eDp5"}}}`), Changed: changed}
	}
	for _, tc := range []struct {
		name  string
		req   Request
		retry bool
		sec   Secret
		want  bool
	}{
		{"event, changed a minute ago", Request{Trigger: TriggerEvent}, false, held(t0.Add(-time.Minute)), true},
		{"event, changed just under the cooldown ago", Request{Trigger: TriggerEvent}, false, held(t0.Add(-5*time.Minute + time.Second)), true},
		{"event, changed the cooldown ago", Request{Trigger: TriggerEvent}, false, held(t0.Add(-5 * time.Minute)), false},
		{"event, a store clock a little ahead", Request{Trigger: TriggerEvent}, false, held(t0.Add(2 * time.Second)), true},
		{"event, a record far in the future", Request{Trigger: TriggerEvent}, false, held(t0.Add(time.Hour)), false},
		{"event, no record", Request{Trigger: TriggerEvent}, false, held(time.Time{}), false},
		{"timer", Request{Trigger: TriggerTimer}, false, held(t0.Add(-time.Minute)), false},
		{"manual", Request{Trigger: TriggerManual}, false, held(t0.Add(-time.Minute)), false},
		{"FC's retry of a timer run", Request{Trigger: TriggerTimer}, true, held(t0.Add(-time.Minute)), true},
		{"FC's retry of a plan", Request{Trigger: TriggerTimer, DryRun: true}, true, held(t0.Add(-time.Minute)), false},
	} {
		w := &invocation{req: tc.req, retry: tc.retry, r: &Rotator{instance: instance{clock: &fakeClock{now: t0}, rotations: map[string]time.Time{},
			lastWrites: map[string]time.Time{}}, cfg: &Config{EventCooldown: Duration{5 * time.Minute}}}}
		var res Result
		got := w.coolingDown("sae/ns/1|acr-ee/a", "sae/ns/1", tc.sec, hosts, &res)
		if got != tc.want || (got && (res.Status != StatusSkipped || res.Reason != ReasonCooldown)) {
			t.Errorf("%s: skipped %v (%q, %q), want %v", tc.name, got, res.Status, res.Reason, tc.want)
		}
	}
}

// In one instance the memory is kept per source: a secret this instance
// wrote for one target (its store record fresh, every host of the other
// target still holding an entry) is not skipped for another target whose
// hosts it did not write; a target whose own rotation is remembered is.
func TestCoolingDownPerSource(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	sec := Secret{Config: []byte(`{"auths":{"a.example.com":{"auth":"eDp5"},"b.example.com":{"auth":"eDp5"}}}`), Changed: t0.Add(-time.Second)}
	r := &Rotator{cfg: &Config{EventCooldown: Duration{5 * time.Minute}}, instance: instance{clock: &fakeClock{now: t0},
		rotations: map[string]time.Time{"sae/ns/1|acr-ee/a": t0.Add(-time.Second)}, lastWrites: map[string]time.Time{"sae/ns/1": t0.Add(-time.Second)}}}
	w := &invocation{req: Request{Trigger: TriggerEvent}, r: r}
	var res Result
	if w.coolingDown("sae/ns/1|acr-ee/b", "sae/ns/1", sec, []string{"b.example.com"}, &res) {
		t.Error("target b skipped for target a's write in this instance")
	}
	if !w.coolingDown("sae/ns/1|acr-ee/a", "sae/ns/1", sec, []string{"a.example.com"}, &res) {
		t.Error("target a, rotated a second ago by this instance, not skipped")
	}
	// Another instance, which wrote nothing, goes by the store's record.
	other := &invocation{req: Request{Trigger: TriggerEvent}, r: &Rotator{cfg: r.cfg, instance: instance{clock: r.clock, rotations: map[string]time.Time{}, lastWrites: map[string]time.Time{}}}}
	if !other.coolingDown("sae/ns/1|acr-ee/b", "sae/ns/1", sec, []string{"b.example.com"}, &res) {
		t.Error("a new instance did not go by the store's record")
	}
}
