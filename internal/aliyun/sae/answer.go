package sae

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// SAE's answers as the API reference gives them (sae-20190506
// ListSecretsResponseBody, DescribeSecretResponseBody,
// UpdateSecretResponseBody of aliyun/alibabacloud-csharp-sdk; see
// docs/cloud-apis.md). Only the members the adapter reads are declared.

// answer is an SAE answer: an envelope and its Data.
type answer interface{ head() envelope }

type envelope struct {
	Success   bool   `json:"Success"`
	Code      string `json:"Code"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

// errorCode is the API's error code of a failed call: ErrorCode, which the
// reference (DescribeSecret, UpdateSecret) gives for a failed call while
// its Code is the HTTP status; else a Code that is not a status, as the API
// gateway's own errors (Throttling.User, signature errors) carry it.
func (e *envelope) errorCode() string {
	if c := strings.TrimSpace(e.ErrorCode); c != "" && !strings.EqualFold(c, "null") {
		return c
	}
	if _, err := strconv.Atoi(e.Code); err != nil {
		return e.Code
	}
	return ""
}

func (e *envelope) head() envelope { return *e }

type listAnswer struct {
	envelope
	Data *struct {
		Secrets []secretJSON `json:"Secrets"`
	} `json:"Data"`
}

type describeAnswer struct {
	envelope
	Data *secretJSON `json:"Data"`
}

type updateAnswer struct{ envelope }

// secretJSON is a secret in ListSecrets' Data.Secrets[] or DescribeSecret's
// Data. SecretData stays raw: absent (nil) and null are no value, never an
// empty one. ListSecrets answers no SecretData in the current reference;
// older versions did, and then it serves as the read.
type secretJSON struct {
	NamespaceID string          `json:"NamespaceId"`
	SecretID    int64           `json:"SecretId"`
	SecretName  string          `json:"SecretName"`
	SecretType  string          `json:"SecretType"`
	SecretData  json.RawMessage `json:"SecretData"`
	// UpdateTime is when the secret last changed, epoch ms (int64 in the
	// reference): raw, so that an answer without it, or with another type,
	// still reads (the change time is then unknown, never an error).
	UpdateTime json.RawMessage `json:"UpdateTime"`
	RelateApps []struct {
		AppID   string `json:"AppId"`
		AppName string `json:"AppName"`
	} `json:"RelateApps"`
}

// carried reports whether a ListSecrets entry carries the secret's value.
func (s *secretJSON) carried() bool {
	m, err := values(s.SecretData)
	_, ok := m[DockerConfigKey]
	return err == nil && ok
}

// values decodes SecretData: nil when the answer carries none (absent or
// null). Every value must be a string (map<string,string> in the reference).
func values(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("SecretData is not a JSON object")
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		var str *string
		if err := json.Unmarshal(v, &str); err != nil || str == nil {
			return nil, fmt.Errorf("the value of SecretData key %q is not a string", k)
		}
		out[k] = *str
	}
	return out, nil
}

// listSnapshot is one ListSecrets: the namespace's secrets, by name and id.
type listSnapshot struct {
	mem     *memory
	ns      string
	secrets []secretJSON
}

// Find implements port.Snapshot: exactly one secret must match. Its
// type is checked from the listing; its value comes from the listing where
// it carries one, else Find answers Resolved and the engine reads it alone.
func (s *listSnapshot) Find(ref port.SecretRef) (port.Secret, error) {
	r := ref.(*Ref)
	var found []*secretJSON
	for i := range s.secrets {
		sec := &s.secrets[i]
		if (r.SecretID != 0 && sec.SecretID == r.SecretID) || (r.SecretName != "" && sec.SecretName == r.SecretName) {
			found = append(found, sec)
		}
	}
	switch len(found) {
	case 1:
	case 0:
		s.mem.forget(r.NamespaceID, r.SecretName)
		return port.Secret{}, port.Errorf(port.SecretNotFound, "%s does not exist", r.Describe())
	default:
		s.mem.forget(r.NamespaceID, r.SecretName)
		return port.Secret{}, port.Errorf(port.SecretNotFound, "%d secrets are named %q in namespace %s: give secretId instead",
			len(found), r.SecretName, r.NamespaceID)
	}
	sec := found[0]
	if sec.SecretID <= 0 {
		// Matched by name, but the answer gives no id to read or write it by.
		return port.Secret{Where: r.Where()}, port.Errorf(port.UpdateFailed,
			"the ListSecrets answer names %s without its SecretId: nothing is written", r.Describe())
	}
	if r.SecretName != "" {
		s.mem.resolved(r.NamespaceID, r.SecretName, sec.SecretID)
	}
	if !sec.carried() || sec.SecretType != DockerConfigType {
		got, err := identify(s.ns, sec)
		if err != nil {
			return got, err
		}
		return got, &port.Resolved{Ref: &one{ns: got.Handle.(*one).ns, id: sec.SecretID, name: r.SecretName}}
	}
	return unwrap(s.ns, sec, sec.SecretData)
}

// oneSnapshot is one DescribeSecret.
type oneSnapshot struct {
	mem     *memory
	sec     *secretJSON // nil: the answer has no Data
	missing bool        // InvalidSecretId.NotFound
}

// Find implements port.Snapshot for a ref from Resolved or ReadAlone:
// a secret resolved from a name must still answer to it.
func (s *oneSnapshot) Find(ref port.SecretRef) (port.Secret, error) {
	o := ref.(*one)
	switch {
	case s.missing && o.name != "":
		s.mem.forget(o.ns, o.name)
		return port.Secret{Where: o.Where()}, port.ErrMoved
	case s.missing:
		return port.Secret{Where: o.Where()}, o.notFound()
	case s.sec == nil:
		return port.Secret{Where: o.Where(), ID: o.Key()}, port.Errorf(port.CorruptSecretData,
			"the DescribeSecret answer for secret %d in namespace %s carries no Data: nothing is written", o.id, o.ns)
	case s.sec.SecretID != o.id:
		// An answer that does not name the secret asked for (no SecretId
		// member, or another) identifies nothing a write could go to.
		return port.Secret{Where: o.Where(), ID: o.Key()}, port.Errorf(port.UpdateFailed,
			"the DescribeSecret answer for secret %d in namespace %s does not name it (SecretId %d): nothing is written", o.id, o.ns, s.sec.SecretID)
	case o.name != "" && s.sec.SecretName != o.name:
		s.mem.forget(o.ns, o.name)
		return port.Secret{Where: o.Where()}, port.ErrMoved
	}
	if o.name != "" {
		s.mem.resolved(o.ns, o.name, o.id)
	}
	return unwrap(o.ns, s.sec, s.sec.SecretData)
}

// identify is a secret's identity for the report and the lock, and its
// type check; the identity is filled in either way.
func identify(ns string, w *secretJSON) (port.Secret, error) {
	if w.NamespaceID != "" {
		ns = w.NamespaceID
	}
	apps := make([]port.Consumer, 0, len(w.RelateApps))
	for _, a := range w.RelateApps {
		apps = append(apps, port.Consumer{ID: a.AppID, Name: a.AppName})
	}
	sec := port.Secret{
		Where:     where(ns, w.SecretID, w.SecretName),
		ID:        ns + "/" + strconv.FormatInt(w.SecretID, 10),
		Consumers: apps,
		Changed:   changed(w.UpdateTime),
		Handle:    &one{ns: ns, id: w.SecretID}, // where a write and its read-back go
	}
	if w.SecretType != DockerConfigType {
		return sec, port.Errorf(port.UnsupportedSecretType, "secret %d has type %q; only %q secrets are rotated", w.SecretID, w.SecretType, DockerConfigType)
	}
	return sec, nil
}

// unwrap checks the type and decodes .dockerconfigjson of data. No value
// (SecretData absent or null, or no .dockerconfigjson key) is corrupt,
// never an empty config; a present empty string reads as {}.
func unwrap(ns string, w *secretJSON, raw json.RawMessage) (port.Secret, error) {
	sec, err := identify(ns, w)
	if err != nil {
		return sec, err
	}
	data, err := values(raw)
	enc, ok := data[DockerConfigKey]
	switch {
	case err != nil:
		return sec, port.Errorf(port.CorruptSecretData, "secret %d: %v; nothing is written", w.SecretID, err)
	case data == nil:
		return sec, port.Errorf(port.CorruptSecretData, "the answer for secret %d carries no SecretData: it is not read as an empty docker config, and nothing is written", w.SecretID)
	case !ok:
		return sec, port.Errorf(port.CorruptSecretData, "the SecretData of secret %d has no %s key; nothing is written", w.SecretID, DockerConfigKey)
	}
	doc, err := dockercfg.Unwrap(enc)
	if err == nil {
		err = dockercfg.Check(doc)
	}
	if err != nil {
		return sec, port.Errorf(port.CorruptSecretData, "%s of secret %d does not decode: %v", DockerConfigKey, w.SecretID, err)
	}
	sec.Config = doc
	delete(data, DockerConfigKey)
	sec.Rest = data
	return sec, nil
}

// changed reads UpdateTime, epoch milliseconds: zero (unknown) when it is
// absent, null, not an integer or not positive.
func changed(raw json.RawMessage) time.Time {
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// one is a secret read on its own with DescribeSecret: by id, or by the id
// its name resolved to (name set), which the answer must confirm.
type one struct {
	ns   string
	id   int64
	name string
}

func (o *one) Validate() error { return nil }
func (o *one) Key() string     { return o.ns + "/" + strconv.FormatInt(o.id, 10) }

// Group is the secret alone; '#' never occurs in a namespace id.
func (o *one) Group() string { return o.ns + "#" + strconv.FormatInt(o.id, 10) }

func (o *one) Where() port.Where { return where(o.ns, o.id, o.name) }
func (o *one) Describe() string  { return o.Where().Describe() }

// notFound is DescribeSecret's InvalidSecretId.NotFound for the secret,
// read or read back.
func (o *one) notFound() error {
	return port.Errorf(port.SecretNotFound, "secret %d does not exist in namespace %s (DescribeSecret: %s)", o.id, o.ns, codeNoSecret)
}
