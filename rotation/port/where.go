package port

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Where names a secret in the report and the logs: its store and region,
// and what its store chooses to show of it, in the store's order (SAE:
// namespaceId, secretId, secretName; KMS, CSMS and SSM: secretName). The
// report flattens it into a result's JSON object
// ({"store":"sae","region":"cn-hangzhou","namespaceId":"cn-hangzhou:prod","secretId":16}),
// the engine's logger into a line's fields.
type Where struct {
	Store  string
	Region string // "" is left out of the JSON
	Fields []Field
	// Describer names the secret in messages where its store names its
	// secrets its own way (SAE: "sae secret 16 in namespace
	// cn-hangzhou:prod"); nil names it by its store, fields and region.
	Describer func(Where) string
}

// Field is one thing a store shows of a secret: a name and a text or
// whole-number value (String, Int). A store leaves out what it does not know.
type Field struct {
	Name  string
	Text  string // the value, when it is text
	Num   int64  // the value, when it is a whole number (IsNum)
	IsNum bool
}

// String is a field of text.
func String(name, value string) Field { return Field{Name: name, Text: value} }

// Int is a field of a whole number.
func Int(name string, value int64) Field { return Field{Name: name, Num: value, IsNum: true} }

// Value is the field's value: a string or an int64.
func (f Field) Value() any {
	if f.IsNum {
		return f.Num
	}
	return f.Text
}

// Lookup returns the value of the field called name (Value).
func (w Where) Lookup(name string) (any, bool) {
	for _, f := range w.Fields {
		if f.Name == name {
			return f.Value(), true
		}
	}
	return nil, false
}

// Describe names the secret in messages: by its Describer, or as
// `<store> secret <fields' values> in <region>` (`kms secret "acr-pull" in cn-hangzhou`).
func (w Where) Describe() string {
	if w.Describer != nil {
		return w.Describer(w)
	}
	vals := make([]string, 0, len(w.Fields))
	for _, f := range w.Fields {
		if f.IsNum {
			vals = append(vals, strconv.FormatInt(f.Num, 10))
		} else {
			vals = append(vals, strconv.Quote(f.Text))
		}
	}
	return fmt.Sprintf("%s secret %s in %s", w.Store, strings.Join(vals, " "), w.Region)
}

// MarshalJSON writes the flat object: store, region (when set), then the fields.
func (w Where) MarshalJSON() ([]byte, error) {
	return append(w.AppendMembers([]byte{'{'}), '}'), nil
}

// AppendMembers appends the members of the flat object, comma-separated,
// without braces, for an object that holds them among its own.
func (w Where) AppendMembers(b []byte) []byte {
	b = appendMember(b, "store", w.Store, true)
	if w.Region != "" {
		b = appendMember(b, "region", w.Region, false)
	}
	for _, f := range w.Fields {
		b = appendMember(b, f.Name, f.Value(), false)
	}
	return b
}

func appendMember(b []byte, name string, value any, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	k, _ := json.Marshal(name)
	v, _ := json.Marshal(value) // a string or an int64: cannot fail
	b = append(append(append(b, k...), ':'), v...)
	return b
}

// UnmarshalJSON reads the flat object: every member but store and region
// is a field, in the object's order.
func (w *Where) UnmarshalJSON(b []byte) error {
	return w.UnmarshalMembers(b, nil)
}

// UnmarshalMembers reads a Where from the members of an object that holds
// other members too: those for which skip is true are not the Where's.
func (w *Where) UnmarshalMembers(b []byte, skip func(name string) bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("where: not a JSON object")
	}
	*w = Where{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if skip != nil && skip(name) {
			continue
		}
		var text string
		var num int64
		isText := json.Unmarshal(raw, &text) == nil
		switch {
		case name == "store":
			w.Store = text
		case name == "region":
			w.Region = text
		case isText:
			w.Fields = append(w.Fields, String(name, text))
		case json.Unmarshal(raw, &num) == nil:
			w.Fields = append(w.Fields, Int(name, num))
		default: // not what a store shows: kept as its JSON text
			w.Fields = append(w.Fields, String(name, string(raw)))
		}
	}
	return nil
}
