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
	// Text names the secret in messages; "" names it by its store, fields
	// and region (Describe).
	Text string
}

// Field is one thing a store shows of a secret: a name and a string or
// int64 value (String, Int). A store leaves out what it does not know.
type Field struct {
	Name  string
	Value any
}

// String is a field of text.
func String(name, value string) Field { return Field{Name: name, Value: value} }

// Int is a field of a whole number.
func Int(name string, value int64) Field { return Field{Name: name, Value: value} }

// Lookup returns the value of the field called name.
func (w Where) Lookup(name string) (any, bool) {
	for _, f := range w.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// Describe names the secret in messages: Text, or
// `<store> secret <fields' values> in <region>` (`kms secret "acr-pull" in cn-hangzhou`).
func (w Where) Describe() string {
	if w.Text != "" {
		return w.Text
	}
	vals := make([]string, 0, len(w.Fields))
	for _, f := range w.Fields {
		if s, ok := f.Value.(string); ok {
			vals = append(vals, strconv.Quote(s))
		} else {
			vals = append(vals, fmt.Sprint(f.Value))
		}
	}
	return fmt.Sprintf("%s secret %s in %s", w.Store, strings.Join(vals, " "), w.Region)
}

// MarshalJSON writes the flat object: store, region (when set), then the fields.
func (w Where) MarshalJSON() ([]byte, error) {
	b, err := w.AppendMembers([]byte{'{'})
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// AppendMembers appends the members of the flat object, comma-separated,
// without braces, for an object that holds them among its own.
func (w Where) AppendMembers(b []byte) ([]byte, error) {
	b = appendMember(b, "store", w.Store, true)
	if w.Region != "" {
		b = appendMember(b, "region", w.Region, false)
	}
	for _, f := range w.Fields {
		switch f.Value.(type) {
		case string, int64:
		default:
			return nil, fmt.Errorf("where: field %q holds a %T, not a string or an int64", f.Name, f.Value)
		}
		b = appendMember(b, f.Name, f.Value, false)
	}
	return b, nil
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
// Whole numbers read as int64, other values as their JSON decoding.
func (w *Where) UnmarshalMembers(b []byte, skip func(name string) bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
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
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				v = i
			} else if f, err := n.Float64(); err == nil {
				v = f
			}
		}
		switch {
		case skip != nil && skip(name):
		case name == "store":
			w.Store, _ = v.(string)
		case name == "region":
			w.Region, _ = v.(string)
		default:
			w.Fields = append(w.Fields, Field{Name: name, Value: v})
		}
	}
	return nil
}
