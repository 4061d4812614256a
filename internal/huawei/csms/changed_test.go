package csms_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// The version's create_time (version_metadata) is read into Secret.Changed:
// in milliseconds, as the API reference's examples and Huawei's own tools
// take it, or in seconds, as its text says; a write moves it. An answer
// without it, or with it in another form, reads as before with the change
// time unknown (zero), and so does an odd answer body around it.
func TestCreateTimeIsTheChange(t *testing.T) {
	emu := start(t)
	st, err := open(t, emu, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Millisecond)
	sec, err := read(t, st, "acr-pull")
	if err != nil {
		t.Fatal(err)
	}
	// start() stored the version just now: the emulator answers it in ms.
	if age := before.Sub(sec.Changed); sec.Changed.IsZero() || age < 0 || age > time.Minute {
		t.Errorf("Changed %v, want the version's creation a moment before %v", sec.Changed, before)
	}
	if _, err := st.Write(context.Background(), port.Credentials{}, sec, []byte(written)); err != nil {
		t.Fatal(err)
	}
	after, err := read(t, st, "acr-pull")
	if err != nil || after.Version != "v2" || after.Changed.Before(before) || after.Changed.After(time.Now()) {
		t.Errorf("after a write: version %q Changed %v (%v); want v2 created at the write, after %v", after.Version, after.Changed, err, before)
	}

	edit := func(value any) func(map[string]any) {
		return func(ans map[string]any) {
			m := ans["version"].(map[string]any)["version_metadata"].(map[string]any)
			if value == nil {
				delete(m, "create_time")
			} else {
				m["create_time"] = value
			}
		}
	}
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		want time.Time
	}{
		{"milliseconds (the examples)", edit(json.Number("1581507580000")), time.UnixMilli(1581507580000)},
		{"seconds (the text)", edit(json.Number("1581507580")), time.Unix(1581507580, 0)},
		{"absent", edit(nil), time.Time{}},
		{"null", edit(json.RawMessage(`null`)), time.Time{}},
		{"a string", edit("2020-02-12T11:39:40Z"), time.Time{}},
		{"a fraction", edit(json.Number("1581507580000.5")), time.Time{}},
		{"zero", edit(json.Number("0")), time.Time{}},
		{"negative", edit(json.Number("-1")), time.Time{}},
		{"no version_metadata", func(ans map[string]any) { delete(ans["version"].(map[string]any), "version_metadata") }, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu.SetAnswerEdit("csms", "ShowSecretVersion", tc.edit)
			defer emu.SetAnswerEdit("csms", "ShowSecretVersion", nil)
			sec, err := read(t, st, "acr-pull")
			if err != nil || string(sec.Config) != written {
				t.Fatalf("the read: %v, the value read: %v", err, string(sec.Config) == written)
			}
			if !sec.Changed.Equal(tc.want) {
				t.Errorf("Changed %v, want %v", sec.Changed, tc.want)
			}
		})
	}
}

// An answer body that is not the documented JSON is InvalidResponse, as the
// SDK's own decoder made it; nothing of the body is quoted.
func TestShowAnswerNotJSON(t *testing.T) {
	emu := start(t)
	st, err := open(t, emu, nil)
	if err != nil {
		t.Fatal(err)
	}
	emu.SetAnswerEdit("csms", "ShowSecretVersion", func(ans map[string]any) { ans["version"] = "hub-password-not-real" })
	_, err = read(t, st, "acr-pull")
	var ae port.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidResponse" || ae.HTTPStatus() != 200 {
		t.Fatalf("got %v; want an InvalidResponse API error with HTTP 200", err)
	}
	noSecrets(t, err)
}
