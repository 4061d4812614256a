package kms_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// GetSecretValue's CreateTime (a string such as "2024-02-21T15:39:26Z") is
// read into Secret.Changed: the current version's, so a write moves it. An
// answer without it, or with it in another form, reads as before with the
// change time unknown (zero).
func TestCreateTimeIsTheChange(t *testing.T) {
	emu, st := open(t)
	emu.CreateKMSSecret(region, "acr-pull", stored, false)
	ctx := context.Background()
	readIt := func(t *testing.T) (time.Time, string) {
		t.Helper()
		snap, err := st.Read(ctx, creds(key), ref("acr-pull"))
		if err != nil {
			t.Fatal(err)
		}
		sec, err := snap.Find(ref("acr-pull"))
		if err != nil {
			t.Fatalf("the read failed: %v", err)
		}
		return sec.Changed, sec.Version
	}

	first, _ := emu.KMSSecret(region, "acr-pull")
	if got, _ := readIt(t); !got.Equal(first.Created.Truncate(time.Second)) {
		t.Errorf("Changed %v, want the version's CreateTime %v (whole seconds)", got, first.Created.Truncate(time.Second))
	}
	snap, _ := st.Read(ctx, creds(key), ref("acr-pull"))
	sec, _ := snap.Find(ref("acr-pull"))
	version, err := st.Write(ctx, creds(key), sec, []byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := emu.KMSSecret(region, "acr-pull")
	if got, v := readIt(t); v != version || !got.Equal(cur.Created.Truncate(time.Second)) {
		t.Errorf("after a write: version %q Changed %v, want %q created %v", v, got, version, cur.Created.Truncate(time.Second))
	}

	for _, tc := range []struct {
		name  string
		value any // the CreateTime member; nil deletes it
	}{
		{"absent", nil},
		{"null", json.RawMessage(`null`)},
		{"empty", ""},
		{"not a time", "yesterday"},
		{"no zone", "2024-02-21 15:39:26"},
		{"a number", json.Number("1708529966000")},
	} {
		t.Run("CreateTime "+tc.name, func(t *testing.T) {
			emu.SetAnswerEdit("kms", "GetSecretValue", func(ans map[string]any) {
				if tc.value == nil {
					delete(ans, "CreateTime")
				} else {
					ans["CreateTime"] = tc.value
				}
			})
			defer emu.SetAnswerEdit("kms", "GetSecretValue", nil)
			if got, _ := readIt(t); !got.IsZero() {
				t.Errorf("Changed %v, want zero (unknown)", got)
			}
		})
	}
	emu.SetAnswerEdit("kms", "GetSecretValue", func(ans map[string]any) { ans["CreateTime"] = "2024-02-21T15:39:26Z" })
	if got, _ := readIt(t); !got.Equal(time.Date(2024, 2, 21, 15, 39, 26, 0, time.UTC)) {
		t.Errorf("the reference's example reads as %v", got)
	}
}
