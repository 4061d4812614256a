package dockercfg

import (
	"encoding/base64"
	"encoding/json"
)

// The stored, base64 form of a docker config (SAE's .dockerconfigjson),
// which the package's API reads with Unwrap only: its tests, written on
// that form, drive the document API through these.

// mergeStored is MergeJSON on a stored value, returning the stored value.
func mergeStored(encoded string, hosts []string, cred Credential) (string, error) {
	doc, err := Unwrap(encoded)
	if err != nil {
		return "", err
	}
	merged, err := MergeJSON(doc, hosts, cred)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(merged), nil
}

// decodeStored returns a stored value's top-level members; errors wrap
// ErrCorrupt.
func decodeStored(encoded string) (map[string]json.RawMessage, error) {
	doc, err := Unwrap(encoded)
	if err != nil {
		return nil, err
	}
	top, _, err := decodeRaw(doc)
	return top, err
}

// equivalentStored is EquivalentJSON on stored values; "" counts as {}.
func equivalentStored(a, b string) (bool, error) {
	da, err := Unwrap(a)
	if err != nil {
		return false, err
	}
	db, err := Unwrap(b)
	if err != nil {
		return false, err
	}
	return EquivalentJSON(da, db)
}
