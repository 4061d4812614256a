// Package sae is the SAE secret store (product sae, 2019-05-06, ROA):
// kubernetes.io/dockerconfigjson secrets whose .dockerconfigjson key holds
// the base64 docker config. SAE-only behaviour lives here: the type check,
// the data key and its wrapping, namespace reads, RelateApps, the account
// quota and SAE's error codes.
package sae

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	"github.com/sae-secret-rotator/rotator/internal/aliyun"
	"github.com/sae-secret-rotator/rotator/rotation"
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

// Name implements rotation.StoreKind.
func (Kind) Name() string { return "sae" }

// NewRef implements rotation.StoreKind.
func (Kind) NewRef() rotation.SecretRef { return &Ref{} }

// Open implements rotation.StoreKind.
func (Kind) Open(env rotation.Env) (rotation.Store, error) {
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

// Validate implements rotation.SecretRef.
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
	case r.SecretName != "" && !rotation.Printable(r.SecretName):
		return errors.New("secretName must be printable ASCII without spaces, at most 253 characters")
	}
	return nil
}

// Region is the part of the namespace before ':'.
func (r *Ref) Region() string {
	region, _, _ := strings.Cut(r.NamespaceID, ":")
	return region
}

// Key implements rotation.SecretRef.
func (r *Ref) Key() string {
	if r.SecretName != "" {
		return r.NamespaceID + "/name:" + r.SecretName
	}
	return r.NamespaceID + "/" + strconv.FormatInt(r.SecretID, 10)
}

// Group implements rotation.SecretRef: a namespace is read in one call.
func (r *Ref) Group() string { return r.NamespaceID }

// Where implements rotation.SecretRef.
func (r *Ref) Where() rotation.Where {
	return rotation.Where{Store: "sae", Region: r.Region(), NamespaceID: r.NamespaceID, SecretID: r.SecretID, SecretName: r.SecretName}
}

// Store is SAE's secrets, signed with each invocation's credentials.
type Store struct {
	b     *aliyun.Backend
	ep    aliyun.Endpoint
	quota rotation.Quota
}

// Quota implements rotation.Store: about 60 calls a minute per account,
// across all of SAE's APIs (the configuration's quota).
func (s *Store) Quota() rotation.Quota { return s.quota }

// CheckCredentials refuses an invocation without Alibaba Cloud credentials.
func (s *Store) CheckCredentials(c rotation.Credentials) error { return aliyun.CheckCredentials(c) }

func (s *Store) client(ctx context.Context, creds rotation.Credentials, region string) (*sae.Client, error) {
	c, err := sae.NewClientWithOptions(region, s.b.Config(), aliyun.Credential(creds))
	if err != nil {
		return nil, fmt.Errorf("sae: cannot build a client for region %s", region)
	}
	s.b.Bind(ctx, c)
	return c, nil
}

// wire is a secret as SAE answers it.
type wire struct {
	ns, name, typ string
	id            int64
	data          map[string]interface{}
	apps          []rotation.App
}

// Read implements rotation.Store: ListSecrets reads the whole namespace.
func (s *Store) Read(ctx context.Context, creds rotation.Credentials, ref rotation.SecretRef) (rotation.Snapshot, error) {
	r := ref.(*Ref)
	c, err := s.client(ctx, creds, r.Region())
	if err != nil {
		return nil, err
	}
	req := sae.CreateListSecretsRequest()
	s.b.Point(req, &req.Port, s.ep, "sae", r.Region(), true)
	req.NamespaceId = r.NamespaceID
	resp := sae.CreateListSecretsResponse()
	if err := c.DoAction(req, resp); err != nil {
		return nil, notFound(s.b.Fail(ctx, "sae", "ListSecrets", err), rotation.Where{Store: "sae", Region: r.Region(), NamespaceID: r.NamespaceID})
	}
	if err := aliyun.Envelope("sae", "ListSecrets", resp.GetHttpStatus(), resp.Success, resp.Code, resp.Message); err != nil {
		return nil, err
	}
	snap := &snapshot{}
	for _, sec := range resp.Data.Secrets {
		ns := sec.NamespaceId
		if ns == "" {
			ns = r.NamespaceID
		}
		apps := make([]rotation.App, 0, len(sec.RelateApps))
		for _, a := range sec.RelateApps {
			apps = append(apps, rotation.App{AppID: a.AppId, AppName: a.AppName})
		}
		snap.secrets = append(snap.secrets, wire{ns: ns, id: sec.SecretId, name: sec.SecretName, typ: sec.SecretType, data: sec.SecretData, apps: apps})
	}
	return snap, nil
}

type snapshot struct{ secrets []wire }

// Find implements rotation.Snapshot.
func (s *snapshot) Find(ref rotation.SecretRef) (rotation.Secret, error) {
	r := ref.(*Ref)
	var found []wire
	for _, sec := range s.secrets {
		if (r.SecretID != 0 && sec.id == r.SecretID) || (r.SecretName != "" && sec.name == r.SecretName) {
			found = append(found, sec)
		}
	}
	switch len(found) {
	case 1:
		return unwrap(found[0])
	case 0:
		return rotation.Secret{}, rotation.Errorf(rotation.SecretNotFound, "%s does not exist", describe(r))
	default:
		return rotation.Secret{}, rotation.Errorf(rotation.SecretNotFound, "%d secrets are named %q in namespace %s: give secretId instead",
			len(found), r.SecretName, r.NamespaceID)
	}
}

func describe(r *Ref) string {
	if r.SecretName != "" {
		return fmt.Sprintf("secret %q in namespace %s", r.SecretName, r.NamespaceID)
	}
	return fmt.Sprintf("secret %d in namespace %s", r.SecretID, r.NamespaceID)
}

// unwrap checks the type and decodes .dockerconfigjson; the secret's
// identity is filled in either way, for the report.
func unwrap(w wire) (rotation.Secret, error) {
	region, _, _ := strings.Cut(w.ns, ":")
	data := stringMap(w.data)
	sec := rotation.Secret{
		Where:     rotation.Where{Store: "sae", Region: region, NamespaceID: w.ns, SecretID: w.id, SecretName: w.name},
		ID:        w.ns + "/" + strconv.FormatInt(w.id, 10),
		Consumers: w.apps,
		Handle:    w,
	}
	if w.typ != DockerConfigType {
		return sec, rotation.Errorf(rotation.UnsupportedSecretType, "secret %d has type %q; only %q secrets are rotated", w.id, w.typ, DockerConfigType)
	}
	doc, err := dockercfg.Unwrap(data[DockerConfigKey])
	if err == nil {
		err = dockercfg.Check(doc)
	}
	if err != nil {
		return sec, rotation.Errorf(rotation.CorruptSecretData, "%s of secret %d does not decode: %v", DockerConfigKey, w.id, err)
	}
	sec.Config = doc
	delete(data, DockerConfigKey)
	sec.Rest = data
	return sec, nil
}

// Write implements rotation.Store: UpdateSecret replaces the secret's data,
// so every key is sent. The query value is the wrapped form
// {"SecretData":"<JSON object>"} that SAE expects today
// (docs/cloud-apis.md); the SDK would send the bare object.
func (s *Store) Write(ctx context.Context, creds rotation.Credentials, sec rotation.Secret, config []byte) (string, error) {
	wrapped, err := wrap(sec, config)
	if err != nil {
		return "", err
	}
	c, err := s.client(ctx, creds, sec.Where.Region)
	if err != nil {
		return "", err
	}
	req := sae.CreateUpdateSecretRequest()
	s.b.Point(req, &req.Port, s.ep, "sae", sec.Where.Region, true)
	req.NamespaceId = sec.Where.NamespaceID
	req.SecretId = requests.NewInteger64(sec.Where.SecretID)
	req.SecretData = wrapped
	resp := sae.CreateUpdateSecretResponse()
	if err := c.DoAction(req, resp); err != nil {
		return "", notFound(s.b.Fail(ctx, "sae", "UpdateSecret", err), sec.Where)
	}
	return "", aliyun.Envelope("sae", "UpdateSecret", resp.GetHttpStatus(), resp.Success, resp.Code, resp.Message)
}

// wrap builds UpdateSecret's SecretData: every key of the secret, the
// docker config base64-encoded, in SAE's wrapped form.
func wrap(sec rotation.Secret, config []byte) (string, error) {
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
func (s *Store) WireForms(sec rotation.Secret, config []byte) []string {
	wrapped, err := wrap(sec, config)
	if err != nil {
		return nil
	}
	return []string{wrapped}
}

// ReadBack implements rotation.Store with DescribeSecret.
func (s *Store) ReadBack(ctx context.Context, creds rotation.Credentials, sec rotation.Secret, _ string) (rotation.Secret, error) {
	c, err := s.client(ctx, creds, sec.Where.Region)
	if err != nil {
		return rotation.Secret{}, err
	}
	req := sae.CreateDescribeSecretRequest()
	s.b.Point(req, &req.Port, s.ep, "sae", sec.Where.Region, true)
	req.NamespaceId = sec.Where.NamespaceID
	req.SecretId = requests.NewInteger64(sec.Where.SecretID)
	resp := sae.CreateDescribeSecretResponse()
	if err := c.DoAction(req, resp); err != nil {
		return rotation.Secret{}, notFound(s.b.Fail(ctx, "sae", "DescribeSecret", err), sec.Where)
	}
	if err := aliyun.Envelope("sae", "DescribeSecret", resp.GetHttpStatus(), resp.Success, resp.Code, resp.Message); err != nil {
		return rotation.Secret{}, err
	}
	d := resp.Data
	apps := make([]rotation.App, 0, len(d.RelateApps))
	for _, a := range d.RelateApps {
		apps = append(apps, rotation.App{AppID: a.AppId, AppName: a.AppName})
	}
	got, err := unwrap(wire{ns: sec.Where.NamespaceID, id: sec.Where.SecretID, name: d.SecretName, typ: d.SecretType, data: d.SecretData, apps: apps})
	if err != nil && rotation.CodeOf(err) == rotation.CorruptSecretData {
		return got, nil // verification reports the difference
	}
	return got, err
}

// notFound gives SAE's not-found answers their report code.
func notFound(err error, wh rotation.Where) error {
	var ce *aliyun.CallError
	if errors.As(err, &ce) && ce.NotFound("InvalidNamespaceId.NotFound", "InvalidSecretId.NotFound") {
		if ce.Code == "InvalidNamespaceId.NotFound" {
			return rotation.Errorf(rotation.SecretNotFound, "namespace %s does not exist (%s)", wh.NamespaceID, ce.Error())
		}
		return rotation.Errorf(rotation.SecretNotFound, "secret %d does not exist in namespace %s (%s)", wh.SecretID, wh.NamespaceID, ce.Error())
	}
	return err
}

// stringMap keeps the string values of SecretData (the SDK decodes it as
// map[string]interface{}); a non-string value is kept as its JSON text.
func stringMap(m map[string]interface{}) map[string]string {
	out := make(map[string]string, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			out[k] = v
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out
}
