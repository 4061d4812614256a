// Package csms is the Huawei Cloud CSMS secret store (Cloud Secret
// Management Service, API v1, huaweicloud-sdk-go-v3 services/csms/v1): a
// secret whose text value (secret_string) is the docker config itself.
// CSMS's UpdateSecret changes only a secret's metadata, so a value is
// written as a new version (CreateSecretVersion) and read as the version
// `latest` (ShowSecretVersion).
package csms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	v1 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1/model"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	overrides "github.com/sae-secret-rotator/rotator/internal/endpoint"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Environment variables the store reads: the endpoint override and the
// Huawei Cloud access key, from exactly these names (never from the SDK's
// credential files or its default chain).
const (
	EnvEndpoint      = "ROTATOR_CSMS_ENDPOINT"
	EnvAK            = "HUAWEICLOUD_SDK_AK"
	EnvSK            = "HUAWEICLOUD_SDK_SK"
	EnvSecurityToken = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
)

// latest is the version id that names a secret's newest version.
const latest = "latest"

// DefaultQuota is the pace of CSMS calls: 5 a second, a chosen margin.
// Huawei Cloud publishes no rate for the CSMS APIs; the one DEW figure found
// is KMS's, 20 API calls a second per user (the DEW API reference's
// Constraints, https://support.huaweicloud.com/intl/en-us/api-dew/dew_02_0053.html),
// and the store stays at a quarter of it. A rotation makes three calls a
// secret; a throttled call (HTTP 429) slows the pacer.
var DefaultQuota = port.Quota{Calls: 300, Per: time.Minute}

// Kind is the `csms` store of the configuration.
type Kind struct{}

// Name implements port.StoreKind.
func (Kind) Name() string { return "csms" }

// NewRef implements port.StoreKind.
func (Kind) NewRef() port.SecretRef { return &Ref{} }

// Open implements port.StoreKind: the keys come from the environment.
func (Kind) Open(env port.Env) (port.Store, error) {
	ep, err := parseEndpoint(env.Getenv(EnvEndpoint))
	if err != nil {
		return nil, err
	}
	ak, sk := env.Getenv(EnvAK), env.Getenv(EnvSK)
	if ak == "" || sk == "" {
		return nil, fmt.Errorf("csms: no Huawei Cloud credentials: set %s and %s (and %s for a temporary key)", EnvAK, EnvSK, EnvSecurityToken)
	}
	return &Store{endpoint: ep, ak: ak, sk: sk, token: env.Getenv(EnvSecurityToken), timeout: env.APITimeout, transport: overrides.NewTransport()}, nil
}

// Ref is a CSMS secret of the configuration.
type Ref struct {
	Region     string `json:"region"`
	ProjectID  string `json:"projectId"`
	SecretName string `json:"secretName"`
}

var (
	projectID = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
	// secretName is CSMS's own rule; it also keeps the name a single,
	// unescaped path segment of the request URL.
	secretName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// Validate implements port.SecretRef.
func (r *Ref) Validate() error {
	switch {
	case r.Region == "":
		return errors.New("region is required")
	case !port.ValidRegion(r.Region):
		return fmt.Errorf("region %q is not a region id such as cn-north-4", r.Region)
	case r.ProjectID == "":
		return errors.New("projectId is required")
	case !projectID.MatchString(r.ProjectID):
		return errors.New("projectId must be the project's id: letters and digits, at most 64")
	case r.SecretName == "":
		return errors.New("secretName is required")
	case !port.Printable(r.SecretName) || !secretName.MatchString(r.SecretName):
		return errors.New("secretName must be 1 to 64 letters, digits, '_', '-' or '.'")
	}
	return nil
}

// Key implements port.SecretRef.
func (r *Ref) Key() string { return r.Region + "/" + r.ProjectID + "/" + r.SecretName }

// Group implements port.SecretRef: one secret a read.
func (r *Ref) Group() string { return r.Key() }

// Where implements port.SecretRef.
func (r *Ref) Where() port.Where {
	return port.Where{Store: "csms", Region: r.Region, Fields: []port.Field{port.String("secretName", r.SecretName)}}
}

// Describe implements port.SecretRef.
func (r *Ref) Describe() string { return r.Where().Describe() }

// Store is CSMS, signed with the Huawei Cloud key of the environment.
type Store struct {
	endpoint      string // "" for the regional endpoint
	ak, sk, token string
	timeout       time.Duration
	transport     *http.Transport
}

// Quota implements port.Store.
func (s *Store) Quota() port.Quota { return DefaultQuota }

// Sensitive lists the keys the store holds, for the engine's redactor.
func (s *Store) Sensitive() []string {
	out := []string{s.sk}
	if s.token != "" {
		out = append(out, s.token)
	}
	return out
}

// client builds a client bound to ctx. Building one per call is cheap (no
// network) and keeps each call's http.Client its own.
func (s *Store) client(ctx context.Context, r *Ref) (*v1.CsmsClient, error) {
	cred, err := basic.NewCredentialsBuilder().WithAk(s.ak).WithSk(s.sk).WithSecurityToken(s.token).
		WithProjectId(r.ProjectID).SafeBuild()
	if err != nil {
		return nil, errors.New("csms: cannot build the credentials")
	}
	ep := s.endpoint
	if ep == "" {
		ep = defaultEndpoint(r.Region)
	}
	hc := config.DefaultHttpConfig().WithTimeout(s.timeout).WithUserAgent("sae-secret-rotator").
		WithHttpRoundTripper(overrides.ContextTransport{Ctx: ctx, Base: overrides.NoRedirectAway{Base: s.transport}})
	c, err := v1.CsmsClientBuilder().WithEndpoints([]string{ep}).WithCredential(cred).WithHttpConfig(hc).SafeBuild()
	if err != nil {
		return nil, errors.New("csms: cannot build a client")
	}
	return v1.NewCsmsClient(c), nil
}

// version is a secret version as CSMS answers it.
type version struct {
	ref     *Ref
	id      string
	value   *string
	binary  bool
	changed time.Time // version_metadata.create_time; zero when unknown
}

// Read implements port.Store: ShowSecretVersion of `latest`.
func (s *Store) Read(ctx context.Context, _ port.Credentials, ref port.SecretRef) (port.Snapshot, error) {
	r := ref.(*Ref)
	v, err := s.show(ctx, r)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Store) show(ctx context.Context, r *Ref) (*version, error) {
	c, err := s.client(ctx, r)
	if err != nil {
		return nil, err
	}
	ans, err := showRaw(ctx, c, s.timeout, &model.ShowSecretVersionRequest{SecretName: r.SecretName, VersionId: latest})
	if err != nil {
		return nil, notFound(err, r)
	}
	v := &version{ref: r}
	if ans.Version != nil {
		if m := ans.Version.VersionMetadata; m != nil {
			if m.ID != nil {
				v.id = *m.ID
			}
			v.changed = changed(m.CreateTime)
		}
		v.value = ans.Version.SecretString
		v.binary = ans.Version.SecretBinary != nil && v.value == nil
	}
	return v, nil
}

// Find implements port.Snapshot.
func (v *version) Find(ref port.SecretRef) (port.Secret, error) {
	r := ref.(*Ref)
	sec := port.Secret{Where: r.Where(), ID: r.Key(), Version: v.id, Changed: v.changed, Handle: r}
	if v.binary {
		return sec, port.Errorf(port.UnsupportedSecretType, "csms secret %q holds a binary value (secret_binary); only a text value holding a docker config is rotated", r.SecretName)
	}
	if v.value == nil {
		// Never read as an empty value: nothing is written.
		return sec, port.Errorf(port.CorruptSecretData, "the ShowSecretVersion answer for csms secret %q carries no secret_string", r.SecretName)
	}
	doc := []byte(*v.value)
	if err := dockercfg.CheckText(doc); err != nil {
		return sec, port.Errorf(port.CorruptSecretData, "the value of csms secret %q is not a docker config: %v", r.SecretName, err)
	}
	sec.Config = doc
	return sec, nil
}

// MaxValue is the largest secret_string CSMS stores, in bytes: 32 KB
// (maxLength 32768 on CreateSecretVersion's page,
// https://support.huaweicloud.com/intl/en-us/api-dew/CreateSecretVersion.html).
const MaxValue = 32768

// CheckSize implements port.SizeLimiter.
func (s *Store) CheckSize(sec port.Secret, cfg []byte) error {
	if len(cfg) > MaxValue {
		name := ""
		if r, ok := sec.Handle.(*Ref); ok {
			name = r.SecretName
		}
		return port.Errorf(port.ValueTooLarge, "the docker config for csms secret %q is %d bytes; CSMS stores at most %d bytes a value (secret_string)",
			name, len(cfg), MaxValue)
	}
	return nil
}

// Write implements port.Store: CreateSecretVersion with the merged
// config as secret_string; the new version becomes `latest`.
func (s *Store) Write(ctx context.Context, _ port.Credentials, sec port.Secret, cfg []byte) (string, error) {
	if err := s.CheckSize(sec, cfg); err != nil {
		return "", err
	}
	r, ok := sec.Handle.(*Ref)
	if !ok {
		return "", errors.New("csms CreateSecretVersion: the secret was not read from CSMS")
	}
	c, err := s.client(ctx, r)
	if err != nil {
		return "", err
	}
	value := string(cfg)
	resp, err := c.CreateSecretVersion(&model.CreateSecretVersionRequest{SecretName: r.SecretName,
		Body: &model.CreateSecretVersionRequestBody{SecretString: &value}})
	if err != nil {
		return "", notFound(fail(ctx, "CreateSecretVersion", s.timeout, err), r)
	}
	if resp.VersionMetadata == nil || resp.VersionMetadata.Id == nil || *resp.VersionMetadata.Id == "" {
		return "", &port.CallError{Product: "csms", Action: "CreateSecretVersion", Status: resp.HttpStatusCode, Code: "InvalidResponse", Detail: "the answer names no version"}
	}
	return *resp.VersionMetadata.Id, nil
}

// ReadBack implements port.Store: `latest` again; the engine checks it
// is the version written and holds the value.
func (s *Store) ReadBack(ctx context.Context, _ port.Credentials, sec port.Secret, _ string) (port.Secret, error) {
	r, ok := sec.Handle.(*Ref)
	if !ok {
		return port.Secret{}, errors.New("csms ShowSecretVersion: the secret was not read from CSMS")
	}
	v, err := s.show(ctx, r)
	if err != nil {
		return port.Secret{}, err
	}
	got, err := v.Find(r)
	if port.CodeOf(err) == port.CorruptSecretData {
		return got, nil // verification reports the difference
	}
	return got, err
}
