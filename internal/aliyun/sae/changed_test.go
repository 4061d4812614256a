package sae_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
)

// The secret's UpdateTime (epoch ms) is the store's record of its last
// change: read into Secret.Changed from DescribeSecret, and from ListSecrets
// where that serves as the read. An answer without it, or with it in
// another form, reads as before with the change time unknown (zero).
func TestUpdateTimeIsTheChange(t *testing.T) {
	emu, st := open(t)
	const updated = int64(1764756000123) // 2025-12-03T10:00:00.123Z
	id, _ := emu.CreateSecret(emulator.Secret{NamespaceID: ns, Name: "good", Type: sae.DockerConfigType,
		Data: map[string]string{sae.DockerConfigKey: b64(doc)}, CreateTime: updated - 86_400_000, UpdateTime: updated})
	want := time.UnixMilli(updated)

	for _, tc := range []struct {
		name    string
		listing bool // ListSecrets carries the values and is the read
		ref     sae.Ref
	}{
		{"DescribeSecret", false, sae.Ref{NamespaceID: ns, SecretID: id}},
		{"DescribeSecret after ListSecrets resolved the name", false, sae.Ref{NamespaceID: ns, SecretName: "good"}},
		{"ListSecrets carrying the values", true, sae.Ref{NamespaceID: ns, SecretName: "good"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu.SetListSecretsData(tc.listing)
			defer emu.SetListSecretsData(false)
			emu.ResetCalls()
			sec, err := read(t, openAt(t, emu), &tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if !sec.Changed.Equal(want) {
				t.Errorf("Changed %v, want UpdateTime %v", sec.Changed, want)
			}
			if tc.listing {
				if got := actions(emu); got != "ListSecrets" {
					t.Errorf("calls %q, want the listing alone", got)
				}
			}
		})
	}

	// A write moves it: the read after UpdateSecret shows the new UpdateTime.
	sec, _ := read(t, st, &sae.Ref{NamespaceID: ns, SecretID: id})
	if _, err := st.Write(t.Context(), creds(), sec, []byte(`{"auths":{}}`)); err != nil {
		t.Fatal(err)
	}
	stored, _ := emu.Secret(ns, id)
	if after, _ := read(t, st, &sae.Ref{NamespaceID: ns, SecretID: id}); !after.Changed.Equal(time.UnixMilli(stored.UpdateTime)) || !after.Changed.After(want) {
		t.Errorf("after a write: Changed %v, want the stored UpdateTime %v", after.Changed, time.UnixMilli(stored.UpdateTime))
	}

	for _, tc := range []struct {
		name  string
		value any // the UpdateTime member; nil deletes it
	}{
		{"absent", nil},
		{"null", json.RawMessage(`null`)},
		{"a string", "2025-12-03T10:00:00Z"},
		{"a quoted number", "1764756000123"},
		{"a fraction", json.Number("1764756000123.5")},
		{"zero", json.Number("0")},
		{"negative", json.Number("-5")},
		{"an object", map[string]any{"ms": 1}},
	} {
		t.Run("UpdateTime "+tc.name, func(t *testing.T) {
			emu.SetAnswerEdit("sae", "DescribeSecret", func(ans map[string]any) {
				d := ans["Data"].(map[string]any)
				if tc.value == nil {
					delete(d, "UpdateTime")
				} else {
					d["UpdateTime"] = tc.value
				}
			})
			defer emu.SetAnswerEdit("sae", "DescribeSecret", nil)
			sec, err := read(t, st, &sae.Ref{NamespaceID: ns, SecretID: id})
			if err != nil {
				t.Fatalf("the read failed: %v", err)
			}
			if !sec.Changed.IsZero() || string(sec.Config) != `{"auths":{}}` {
				t.Errorf("Changed %v (want zero: unknown), config read: %v", sec.Changed, string(sec.Config) == `{"auths":{}}`)
			}
		})
	}
}
