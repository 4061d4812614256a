// Package sae is the SAE secret store (product sae, 2019-05-06, ROA):
// kubernetes.io/dockerconfigjson secrets whose .dockerconfigjson key holds
// the base64 docker config. SAE-only behaviour lives here: the type check,
// the data key and its wrapping, name resolution (ListSecrets) and reads
// (DescribeSecret), RelateApps, the account quota and SAE's error codes.
//
// The shapes are those of the current API reference (the official SDKs'
// generated models for sae-20190506, docs/cloud-apis.md): ListSecrets
// answers metadata only, DescribeSecret a secret's SecretData.
package sae

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/internal/aliyun"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// EnvEndpoint overrides SAE's regional endpoint.
const EnvEndpoint = "ROTATOR_SAE_ENDPOINT"

// DockerConfigType is the only secret type rotated; DockerConfigKey the
// SecretData key that holds the base64 docker config.
const (
	DockerConfigType = "kubernetes.io/dockerconfigjson"
	DockerConfigKey  = ".dockerconfigjson"
)

// Kind is the `sae` store of the configuration.
type Kind struct{}

// Name implements port.StoreKind.
func (Kind) Name() string { return "sae" }

// NewRef implements port.StoreKind.
func (Kind) NewRef() port.SecretRef { return &Ref{} }

// Open implements port.StoreKind.
func (Kind) Open(env port.Env) (port.Store, error) {
	ep, err := aliyun.ParseEndpoint(EnvEndpoint, env.Getenv(EnvEndpoint))
	if err != nil {
		return nil, err
	}
	aliyun.FillEndpointMaps(sae.GetEndpointMap)
	return &Store{b: aliyun.Shared(env.APITimeout), ep: ep, quota: env.Quota}, nil
}

// Ref is an SAE secret of the configuration, by id or by name.
type Ref struct {
	NamespaceID string `json:"namespaceId"`
	SecretID    int64  `json:"secretId,omitempty"`
	SecretName  string `json:"secretName,omitempty"`
}

var namespaceID = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+(:[A-Za-z0-9_-]+)?$`)

// Validate implements port.SecretRef.
func (r *Ref) Validate() error {
	switch {
	case r.NamespaceID == "":
		return errors.New("namespaceId is required")
	case !namespaceID.MatchString(r.NamespaceID):
		return fmt.Errorf("namespaceId %q must be \"<region>\" or \"<region>:<name>\"", r.NamespaceID)
	case r.SecretID == 0 && r.SecretName == "":
		return errors.New("secretId or secretName is required")
	case r.SecretID != 0 && r.SecretName != "":
		return errors.New("give secretId or secretName, not both")
	case r.SecretID < 0:
		return errors.New("secretId must be positive")
	case r.SecretName != "" && !port.Printable(r.SecretName):
		return errors.New("secretName must be printable ASCII without spaces, at most 253 characters")
	}
	return nil
}

// Region is the part of the namespace before ':'.
func (r *Ref) Region() string { return regionOf(r.NamespaceID) }

// regionOf is the region of a namespace id, "<region>" or "<region>:<name>".
func regionOf(ns string) string {
	region, _, _ := strings.Cut(ns, ":")
	return region
}

// Key implements port.SecretRef.
func (r *Ref) Key() string {
	if r.SecretName != "" {
		return r.NamespaceID + "/name:" + r.SecretName
	}
	return r.NamespaceID + "/" + strconv.FormatInt(r.SecretID, 10)
}

// Group implements port.SecretRef: a namespace is read in one call.
func (r *Ref) Group() string { return r.NamespaceID }

// Where implements port.SecretRef.
func (r *Ref) Where() port.Where { return where(r.NamespaceID, r.SecretID, r.SecretName) }

// Describe implements port.SecretRef.
func (r *Ref) Describe() string { return r.Where().Describe() }

// where names an SAE secret in the report and the logs: its namespace, and
// its id and name where known (0 and "" are left out).
func where(ns string, id int64, name string) port.Where {
	wh := port.Where{Store: "sae", Region: regionOf(ns), Fields: make([]port.Field, 1, 3), Describer: describeWhere}
	wh.Fields[0] = port.String("namespaceId", ns)
	if id != 0 {
		wh.Fields = append(wh.Fields, port.Int("secretId", id))
	}
	if name != "" {
		wh.Fields = append(wh.Fields, port.String("secretName", name))
	}
	return wh
}

// describeWhere names an SAE secret in messages, by id where known:
// "sae secret 16 in namespace cn-hangzhou:prod".
func describeWhere(wh port.Where) string {
	ns, _ := wh.Lookup("namespaceId")
	if id, ok := wh.Lookup("secretId"); ok {
		return fmt.Sprintf("sae secret %d in namespace %s", id, ns)
	}
	name, _ := wh.Lookup("secretName")
	if name == nil {
		name = ""
	}
	return fmt.Sprintf("sae secret %q in namespace %s", name, ns)
}

// Store is SAE's secrets, signed with each invocation's credentials. For
// the life of the process it remembers the ids that names resolved to and
// which namespaces' ListSecrets answers carried values (memory.go).
type Store struct {
	b     *aliyun.Backend
	ep    aliyun.Endpoint
	quota port.Quota
	mem   memory
}

// Quota implements port.Store: about 60 calls a minute per account,
// across all of SAE's APIs (the configuration's quota).
func (s *Store) Quota() port.Quota { return s.quota }

// CheckCredentials refuses an invocation without Alibaba Cloud credentials.
func (s *Store) CheckCredentials(c port.Credentials) error { return aliyun.CheckCredentials(c) }

func (s *Store) client(ctx context.Context, creds port.Credentials, region string) (*sae.Client, error) {
	c, err := sae.NewClientWithOptions(region, s.b.Config(), aliyun.Credential(creds))
	if err != nil {
		return nil, fmt.Errorf("sae: cannot build a client for region %s", region)
	}
	s.b.Bind(ctx, c)
	return c, nil
}

// call sends one request and decodes its raw JSON answer into out: the
// SDK's response structs cannot tell an absent member from an empty one
// (its Data struct is shared by 64 SAE answers), so none of them is used.
func (s *Store) call(ctx context.Context, creds port.Credentials, region, action string, req requests.AcsRequest, reqPort *string, out answer) error {
	c, err := s.client(ctx, creds, region)
	if err != nil {
		return err
	}
	s.b.Point(req, reqPort, s.ep, "sae", region, true)
	resp := responses.NewCommonResponse()
	if err := c.DoAction(req, resp); err != nil {
		return errorAnswer(action, s.b.Fail(ctx, "sae", action, err), resp.GetHttpContentBytes())
	}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), out); err != nil {
		return &port.CallError{Product: "sae", Action: action, Status: resp.GetHttpStatus(), Code: "InvalidResponse",
			Detail: "the answer is not the documented JSON"}
	}
	e := out.head()
	return aliyun.Envelope("sae", action, resp.GetHttpStatus(), e.Success, e.errorCode(), e.Message)
}

// errorAnswer gives a failed call the code of SAE's error answer: the SDK
// reads only its Code, which SAE's reference makes the HTTP status where
// ErrorCode holds the code (envelope.errorCode).
func errorAnswer(action string, err error, body []byte) error {
	var ce *port.CallError
	var e envelope
	if !errors.As(err, &ce) || ce.Status == 0 || json.Unmarshal(body, &e) != nil {
		return err
	}
	if code := e.errorCode(); code != "" && code != ce.Code {
		fixed := aliyun.Failure("sae", action, ce.Status, code)
		fixed.Server = ce.Server
		return fixed
	}
	return err
}

// Read implements port.Store: ListSecrets reads a namespace (it names
// its secrets; an older API also answered their values), DescribeSecret
// one secret (a ref that Find resolved or ReadAlone knew).
func (s *Store) Read(ctx context.Context, creds port.Credentials, ref port.SecretRef) (port.Snapshot, error) {
	switch r := ref.(type) {
	case *Ref:
		req := sae.CreateListSecretsRequest()
		req.NamespaceId = r.NamespaceID
		var ans listAnswer
		if err := s.call(ctx, creds, r.Region(), "ListSecrets", req, &req.Port, &ans); err != nil {
			return nil, notFound(err, r.NamespaceID, 0)
		}
		snap := &listSnapshot{mem: &s.mem, ns: r.NamespaceID}
		if ans.Data != nil {
			snap.secrets = ans.Data.Secrets
		}
		s.mem.listed(r.NamespaceID, snap.secrets)
		return snap, nil
	case *one:
		sec, missing, err := s.describe(ctx, creds, r)
		if err != nil {
			return nil, err
		}
		return &oneSnapshot{mem: &s.mem, sec: sec, missing: missing}, nil
	}
	return nil, errors.New("sae: not an SAE secret")
}

// describe is DescribeSecret; missing reports InvalidSecretId.NotFound.
func (s *Store) describe(ctx context.Context, creds port.Credentials, o *one) (sec *secretJSON, missing bool, err error) {
	req := sae.CreateDescribeSecretRequest()
	req.NamespaceId = o.ns
	req.SecretId = requests.NewInteger64(o.id)
	var ans describeAnswer
	if err := s.call(ctx, creds, regionOf(o.ns), "DescribeSecret", req, &req.Port, &ans); err != nil {
		var ce *port.CallError
		if errors.As(err, &ce) && ce.HasCode(codeNoSecret) {
			return nil, true, nil
		}
		return nil, false, notFound(err, o.ns, o.id)
	}
	return ans.Data, false, nil
}

// ReadAlone implements port.Resolver: a secret by id is read with
// DescribeSecret, and so is one by a name this process resolved before;
// where the namespace's ListSecrets carried values, it is read instead.
func (s *Store) ReadAlone(ref port.SecretRef) (port.SecretRef, bool) {
	r, ok := ref.(*Ref)
	if !ok {
		return nil, false
	}
	return s.mem.alone(r)
}

// Write implements port.Store: UpdateSecret replaces the secret's data,
// so every key is sent. The query value is the wrapped form
// {"SecretData":"<JSON object>"} of the current API reference
// (docs/cloud-apis.md); the SDK would send the bare object.
func (s *Store) Write(ctx context.Context, creds port.Credentials, sec port.Secret, config []byte) (string, error) {
	o, ok := sec.Handle.(*one)
	if !ok {
		return "", errors.New("sae UpdateSecret: the secret was not read from SAE")
	}
	wrapped, err := wrap(sec, config)
	if err != nil {
		return "", err
	}
	req := sae.CreateUpdateSecretRequest()
	req.NamespaceId = o.ns
	req.SecretId = requests.NewInteger64(o.id)
	req.SecretData = wrapped
	var ans updateAnswer
	if err := s.call(ctx, creds, regionOf(o.ns), "UpdateSecret", req, &req.Port, &ans); err != nil {
		return "", notFound(err, o.ns, o.id)
	}
	return "", nil
}

// wrap builds UpdateSecret's SecretData: every key of the secret, the
// docker config base64-encoded, in SAE's wrapped form.
func wrap(sec port.Secret, config []byte) (string, error) {
	data := make(map[string]string, len(sec.Rest)+1)
	for k, v := range sec.Rest {
		data[k] = v
	}
	data[DockerConfigKey] = base64.StdEncoding.EncodeToString(config)
	inner, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("sae UpdateSecret: cannot encode the secret data")
	}
	wrapped, err := json.Marshal(map[string]string{"SecretData": string(inner)})
	if err != nil {
		return "", fmt.Errorf("sae UpdateSecret: cannot encode the secret data")
	}
	return string(wrapped), nil
}

// WireForms is the write's request value, for the engine's redactor: a
// server that quotes the request quotes this.
func (s *Store) WireForms(sec port.Secret, config []byte) []string {
	wrapped, err := wrap(sec, config)
	if err != nil {
		return nil
	}
	return []string{wrapped}
}

// ReadBack implements port.Store with DescribeSecret.
func (s *Store) ReadBack(ctx context.Context, creds port.Credentials, sec port.Secret, _ string) (port.Secret, error) {
	o, ok := sec.Handle.(*one)
	if !ok {
		return port.Secret{}, errors.New("sae DescribeSecret: the secret was not read from SAE")
	}
	got, missing, err := s.describe(ctx, creds, o)
	switch {
	case err != nil:
		return port.Secret{}, err
	case missing:
		return port.Secret{}, o.notFound()
	case got == nil:
		return port.Secret{Where: sec.Where}, nil // verification reports the difference
	}
	back, err := unwrap(o.ns, got, got.SecretData)
	if port.CodeOf(err) == port.CorruptSecretData {
		return back, nil // verification reports the difference
	}
	return back, err
}

// SAE's not-found codes (the SAE API reference's error codes).
const (
	codeNoNamespace = "InvalidNamespaceId.NotFound"
	codeNoSecret    = "InvalidSecretId.NotFound"
)

// notFound gives SAE's not-found answers their report code.
func notFound(err error, ns string, id int64) error {
	var ce *port.CallError
	if errors.As(err, &ce) && ce.HasCode(codeNoNamespace, codeNoSecret) {
		if ce.Code == codeNoNamespace {
			return port.Errorf(port.SecretNotFound, "namespace %s does not exist (%s)", ns, ce.Error())
		}
		return port.Errorf(port.SecretNotFound, "secret %d does not exist in namespace %s (%s)", id, ns, ce.Error())
	}
	return err
}
