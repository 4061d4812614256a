package dockercfg

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	foreign := `{"auth":"` + foreignAuth + `"}`
	for _, tc := range []struct {
		name          string
		doc           string
		hosts         []string
		added, repl   []string
		entries, keys int
	}{
		{"empty document", ``, []string{"a.example", "b.example"}, []string{"a.example", "b.example"}, []string{}, 0, 0},
		{"null auths", `{"auths":null}`, []string{"a.example"}, []string{"a.example"}, []string{}, 0, 0},
		{"one replaced, one added, foreign kept", `{"auths":{"a.example":` + foreign + `,"docker.io":` + foreign + `}}`,
			[]string{"a.example", "b.example"}, []string{"b.example"}, []string{"a.example"}, 1, 0},
		{"spellings collapse into one replaced host", `{"auths":{"HTTPS://A.example/":` + foreign + `,"a.example":` + foreign + `}}`,
			[]string{"a.example"}, []string{}, []string{"a.example"}, 0, 0},
		{"a port or a path is another registry", `{"auths":{"a.example:5000":` + foreign + `,"a.example/v1":` + foreign + `}}`,
			[]string{"a.example"}, []string{"a.example"}, []string{}, 2, 0},
		{"other top-level keys counted", `{"auths":{},"credHelpers":{"x":"y"},"HttpHeaders":{}}`,
			[]string{"a.example"}, []string{"a.example"}, []string{}, 0, 2},
		{"hosts normalized and deduplicated, in the order given", `{"auths":{"b.example":` + foreign + `}}`,
			[]string{"https://B.example/", "c.example", "b.example"}, []string{"c.example"}, []string{"b.example"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := Diff([]byte(tc.doc), tc.hosts)
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			want := Change{Added: tc.added, Replaced: tc.repl, KeptEntries: tc.entries, KeptKeys: tc.keys}
			if !reflect.DeepEqual(ch, want) {
				t.Errorf("Diff = %+v, want %+v", ch, want)
			}
			// What Diff announces is what MergeJSON does.
			merged, err := MergeJSON([]byte(tc.doc), tc.hosts, newCred)
			if err != nil {
				t.Fatalf("MergeJSON: %v", err)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(merged, &top); err != nil {
				t.Fatal(err)
			}
			var auths map[string]json.RawMessage
			_ = json.Unmarshal(top["auths"], &auths)
			if got, want := len(auths), ch.KeptEntries+len(ch.Added)+len(ch.Replaced); got != want {
				t.Errorf("the merge holds %d auths entries, Diff announced %d", got, want)
			}
			if got := len(top) - 1; got != ch.KeptKeys {
				t.Errorf("the merge holds %d other top-level keys, Diff announced %d", got, ch.KeptKeys)
			}
			for _, h := range append(append([]string{}, ch.Added...), ch.Replaced...) {
				if string(auths[h]) != freshEntry(newCred) {
					t.Errorf("host %s announced but not written", h)
				}
			}
		})
	}
}

// Diff refuses exactly what MergeJSON refuses, with the same words, and
// never names a foreign key or a value.
func TestDiffRefusesWhatMergeRefuses(t *testing.T) {
	for i, doc := range []string{`[]`, `{"auths":[]}`, `{"auths":{"a":1}}`, `{"Auths":{}}`, `{"a":1,"a":2}`, `not json`,
		`{"auths":{"` + foreignUser + `":{},"` + foreignUser + `":{}}}`} {
		_, derr := Diff([]byte(doc), []string{"a.example"})
		_, merr := MergeJSON([]byte(doc), []string{"a.example"}, newCred)
		if derr == nil || merr == nil || derr.Error() != merr.Error() || !errors.Is(derr, ErrCorrupt) {
			// The errors are printed only once known to name no foreign key.
			if derr != nil && strings.Contains(derr.Error(), foreignUser) || merr != nil && strings.Contains(merr.Error(), foreignUser) {
				t.Errorf("document %d: Diff and MergeJSON disagree, and an error names a foreign key", i)
			} else {
				t.Errorf("document %d: Diff error %v, MergeJSON error %v: want the same ErrCorrupt", i, derr, merr)
			}
		}
		checkMessage(t, derr)
		if derr != nil && strings.Contains(derr.Error(), foreignUser) {
			t.Errorf("document %d: the error names a foreign key", i)
		}
	}
	for _, hosts := range [][]string{nil, {""}, {"a b"}} {
		if _, err := Diff([]byte(`{}`), hosts); err == nil || errors.Is(err, ErrCorrupt) {
			t.Errorf("hosts %q: error %v, want an argument error", hosts, err)
		}
	}
}

// A text value holds a docker config when it is a JSON object as MergeJSON
// reads it; an empty value is none (MergeJSON alone would take it for {}).
func TestCheckText(t *testing.T) {
	for i, tc := range []struct {
		value string
		want  error // nil, errEmpty or ErrCorrupt
	}{
		{`{"auths":{}}`, nil}, {`{}`, nil}, {`{"auths":null,"credsStore":"x"}`, nil},
		{``, errEmpty}, {` `, ErrCorrupt}, {`[]`, ErrCorrupt}, {`user:password`, ErrCorrupt},
		{`{"auths":[]}`, ErrCorrupt}, {`{"auths":{},"Auths":{}}`, ErrCorrupt}, {`{"auths":{"a":1}}`, ErrCorrupt},
	} {
		err := CheckText([]byte(tc.value))
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("value %d: CheckText = %v, want %v", i, err, tc.want)
		}
		if tc.want == nil && Check([]byte(tc.value)) != nil {
			t.Errorf("value %d: Check refuses what CheckText takes", i)
		}
	}
}
