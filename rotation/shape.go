package rotation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"
)

// looksJSON tells inline JSON from YAML: JSON is parsed as JSON, so that
// everything JSON allows (such as escaped surrogate pairs) is accepted.
func looksJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

var (
	durationType = reflect.TypeOf(Duration{})
	rawType      = reflect.TypeOf(json.RawMessage{})
)

// checkShape walks a decoded document along the Go type it will fill and
// names the first field that is unknown or of the wrong kind.
func checkShape(v any, t reflect.Type, path string) error {
	at := func() string {
		if path == "" {
			return "the configuration"
		}
		return path
	}
	if v == nil {
		return nil // absent: the default applies, or validate asks for it
	}
	if t == rawType {
		return nil // an entry read by its kind
	}
	if t == durationType {
		str, ok := v.(string)
		if _, err := time.ParseDuration(str); !ok || err != nil {
			return fmt.Errorf("%s: must be a duration such as \"15m\"", at())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be an object", at())
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			fields[name] = t.Field(i).Type
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s: unknown field", sub)
			}
			if err := checkShape(obj[k], ft, sub); err != nil {
				return err
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: must be a list", at())
		}
		for i, e := range list {
			if err := checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: must be a string", at())
		}
	case reflect.Int, reflect.Int64:
		if n, ok := v.(float64); !ok || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return fmt.Errorf("%s: must be a whole number", at())
		}
	}
	return nil
}

// cleanYAMLError drops the library's prefixes so the field name leads.
func cleanYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: ")
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}
