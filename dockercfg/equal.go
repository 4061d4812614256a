package dockercfg

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"
)

// EquivalentJSON reports whether two docker config documents are the same
// JSON value (semantic: key order and whitespace ignored, numbers compared
// by exact decimal value so that 1.0 equals 1 but large integers never
// round into each other). An empty document counts as {}. Errors wrap
// ErrCorrupt.
func EquivalentJSON(a, b []byte) (bool, error) {
	va, err := decodeValueRaw(a)
	if err != nil {
		return false, err
	}
	vb, err := decodeValueRaw(b)
	if err != nil {
		return false, err
	}
	return equalValues(va, vb), nil
}

// decodeValueRaw decodes any JSON value, keeping numbers as their literal text.
func decodeValueRaw(data []byte) (any, error) {
	if len(data) == 0 {
		data = []byte("{}")
	}
	if !json.Valid(data) {
		return nil, corrupt("not JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, corrupt("not JSON")
	}
	return v, nil
}

func equalValues(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !equalValues(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalValues(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		return ok && canonicalNumber(string(a)) == canonicalNumber(string(b))
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	}
	return false
}

// canonicalNumber rewrites a JSON number literal as sign, significant digits
// and a decimal exponent, so equal values compare equal as strings. It works
// on the digits instead of float64 (which would make distinct large integers
// equal) or big.Rat (which would expand "1e999999999").
func canonicalNumber(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp := s, "0"
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return "0" // -0 and 0 are the same value
	}
	sig := strings.TrimRight(digits, "0")
	e, ok := new(big.Int).SetString(exp, 10)
	if !ok {
		return "invalid:" + s // unreachable for validated JSON
	}
	e.Sub(e, big.NewInt(int64(len(frac))))
	e.Add(e, big.NewInt(int64(len(digits)-len(sig))))
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + sig + "e" + e.String()
}
