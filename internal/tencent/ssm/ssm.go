// Package ssm is the Tencent Cloud Secrets Manager store (SSM, 2019-09-23,
// API 3.0 signed with TC3-HMAC-SHA256): a named version of a secret whose
// text value (SecretString) is the docker config document itself. Reads
// and read-backs are GetSecretValue, writes UpdateSecret, which overwrites
// the content of that version.
package ssm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	overrides "github.com/sae-secret-rotator/rotator/internal/endpoint"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Environment the store reads when it is opened. The keys come from these
// variables only, never from the SDK's credential files or provider chain.
const (
	EnvEndpoint     = "ROTATOR_SSM_ENDPOINT"
	EnvSecretID     = "TENCENTCLOUD_SECRET_ID"
	EnvSecretKey    = "TENCENTCLOUD_SECRET_KEY"
	EnvSessionToken = "TENCENTCLOUD_SESSION_TOKEN"
)

// DefaultEndpoint is SSM's nearest-region endpoint; the region travels in
// the X-TC-Region header.
const DefaultEndpoint = "ssm.tencentcloudapi.com"

// Kind is the `ssm` store of the configuration.
type Kind struct{}

// Name implements port.StoreKind.
func (Kind) Name() string { return "ssm" }

// NewRef implements port.StoreKind.
func (Kind) NewRef() port.SecretRef { return &Ref{} }

// Open implements port.StoreKind.
func (Kind) Open(env port.Env) (port.Store, error) {
	ep, err := parseEndpoint(env.Getenv(EnvEndpoint))
	if err != nil {
		return nil, err
	}
	id, key := env.Getenv(EnvSecretID), env.Getenv(EnvSecretKey)
	if id == "" || key == "" {
		return nil, fmt.Errorf("store ssm: set %s and %s (and %s for temporary keys): Tencent Cloud keys are read from these variables only",
			EnvSecretID, EnvSecretKey, EnvSessionToken)
	}
	return &Store{ep: ep, id: id, key: key, token: env.Getenv(EnvSessionToken), timeout: env.APITimeout, transport: overrides.NewTransport()}, nil
}

// Ref is an SSM secret version of the configuration.
type Ref struct {
	Region     string `json:"region"`
	SecretName string `json:"secretName"`
	VersionID  string `json:"versionId"`
}

// Validate implements port.SecretRef.
func (r *Ref) Validate() error {
	switch {
	case r.Region == "":
		return errors.New("region is required")
	case !port.ValidRegion(r.Region):
		return fmt.Errorf("region %q is not a region id such as \"ap-guangzhou\"", r.Region)
	case r.SecretName == "":
		return errors.New("secretName is required")
	case !port.Printable(r.SecretName):
		return errors.New("secretName must be printable ASCII without spaces, at most 253 characters")
	case r.VersionID == "":
		return errors.New("versionId is required: the version whose content UpdateSecret overwrites")
	case !port.Printable(r.VersionID):
		return errors.New("versionId must be printable ASCII without spaces, at most 253 characters")
	}
	return nil
}

// Key implements port.SecretRef.
func (r *Ref) Key() string { return r.Region + "/" + r.SecretName + "/" + r.VersionID }

// Group implements port.SecretRef: one version is read a call.
func (r *Ref) Group() string { return r.Key() }

// Where implements port.SecretRef.
func (r *Ref) Where() port.Where { return where(r.Region, r.SecretName) }

// Describe implements port.SecretRef.
func (r *Ref) Describe() string { return r.Where().Describe() }

// where names a secret for the report and the logs: its name, not the
// version, as every store's results name a secret.
func where(region, name string) port.Where {
	return port.Where{Store: "ssm", Region: region, Fields: []port.Field{port.String("secretName", name)}}
}

// Store is SSM, signed with the keys from the environment.
type Store struct {
	ep             endpoint
	id, key, token string
	timeout        time.Duration
	transport      *http.Transport
}

// Quota implements port.Store. SSM limits each API by itself: UpdateSecret
// 50 calls a second (https://www.tencentcloud.com/document/product/1078/38642),
// GetSecretValue 300 (https://www.tencentcloud.com/document/product/1078/38649).
// One lane paces reads and writes together at 45, a chosen margin below the
// lower of the two, for windows that do not line up with SSM's and for other
// callers of the account.
func (s *Store) Quota() port.Quota {
	return port.Quota{Calls: 45, Per: time.Second}
}

// Sensitive lists the keys the store holds, for the engine's redactor.
func (s *Store) Sensitive() []string {
	var out []string
	for _, v := range []string{s.key, s.token} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// handle is the version a secret was read from.
type handle struct{ region, name, version string }

// Read implements port.Store with GetSecretValue of the version.
func (s *Store) Read(ctx context.Context, _ port.Credentials, ref port.SecretRef) (port.Snapshot, error) {
	r := ref.(*Ref)
	h := handle{region: r.Region, name: r.SecretName, version: r.VersionID}
	sec, err := s.get(ctx, h)
	if err != nil && port.CodeOf(err) != port.UnsupportedSecretType && port.CodeOf(err) != port.CorruptSecretData {
		return nil, err
	}
	return snapshot{sec: sec, err: err}, nil
}

// snapshot is one version as read; its failure belongs to that secret.
type snapshot struct {
	sec port.Secret
	err error
}

// Find implements port.Snapshot.
func (s snapshot) Find(port.SecretRef) (port.Secret, error) { return s.sec, s.err }

// get reads one version and checks that it holds a docker config. A
// failing secret is returned too: its Where for the report, its value in
// Config for the redactor.
func (s *Store) get(ctx context.Context, h handle) (port.Secret, error) {
	c, x := s.client(ctx, h.region)
	req := tcssm.NewGetSecretValueRequest()
	req.SecretName, req.VersionId = common.StringPtr(h.name), common.StringPtr(h.version)
	resp, err := c.GetSecretValue(req)
	if err != nil {
		return port.Secret{}, notFound(s.fail(ctx, "GetSecretValue", x, err), h)
	}
	// No Changed: GetSecretValue answers no time (SecretName, VersionId,
	// SecretBinary, SecretString, RequestId in the SDK's
	// GetSecretValueResponse, v1.0.162 and later; docs/cloud-apis.md), and
	// no call is added for one. SSM keeps no record the cooldown can use.
	sec := port.Secret{
		Where:   where(h.region, h.name),
		ID:      h.region + "/" + h.name + "/" + h.version,
		Version: h.version,
		Handle:  h,
	}
	if resp.Response == nil {
		return sec, &port.CallError{Product: "ssm", Action: "GetSecretValue", Status: x.status, Code: "ClientError.ParseJsonError", Detail: "the answer has no Response"}
	}
	if b := resp.Response.SecretBinary; b != nil && *b != "" {
		return sec, port.Errorf(port.UnsupportedSecretType, "%s holds binary data (SecretBinary); only a text value (SecretString) holding a docker config is rotated", describe(h))
	}
	if resp.Response.SecretString == nil {
		// Never read as an empty value: nothing is written.
		return sec, port.Errorf(port.CorruptSecretData, "the GetSecretValue answer for %s carries no SecretString", describe(h))
	}
	sec.Config = []byte(*resp.Response.SecretString)
	if err := dockercfg.CheckText(sec.Config); err != nil {
		return sec, port.Errorf(port.CorruptSecretData, "%s is not a docker config: %v", describe(h), err)
	}
	return sec, nil
}

func describe(h handle) string {
	return fmt.Sprintf("ssm secret %q version %q in %s", h.name, h.version, h.region)
}

// notFound gives SSM's ResourceNotFound (secret or version) its report code.
func notFound(ce *port.CallError, h handle) error {
	if notFoundCode(ce.Code) {
		return port.Errorf(port.SecretNotFound, "%s does not exist (%s)", describe(h), ce.Error())
	}
	return ce
}

// MaxValue is the largest SecretString SSM stores, in bytes: 4096 on the
// international CreateSecret page
// (https://intl.cloud.tencent.com/document/api/1078/38656) and in older
// SDKs, the stricter of its two documented figures (the Chinese page,
// https://cloud.tencent.com/document/product/1105/40529, says 32 KB).
const MaxValue = 4096

// CheckSize implements port.SizeLimiter.
func (s *Store) CheckSize(sec port.Secret, config []byte) error {
	if len(config) > MaxValue {
		h, _ := sec.Handle.(handle)
		return port.Errorf(port.ValueTooLarge, "the docker config for ssm secret %q in %s is %d bytes; SSM stores at most %d bytes a value (SecretString)",
			h.name, h.region, len(config), MaxValue)
	}
	return nil
}

// Write implements port.Store: UpdateSecret overwrites the version's
// content with the merged document. It returns the version it overwrote,
// the one it named: the API's answer is not needed to find it again.
func (s *Store) Write(ctx context.Context, _ port.Credentials, sec port.Secret, config []byte) (string, error) {
	if err := s.CheckSize(sec, config); err != nil {
		return "", err
	}
	h, ok := sec.Handle.(handle)
	if !ok {
		return "", errors.New("ssm UpdateSecret: the secret was not read from SSM")
	}
	c, x := s.client(ctx, h.region)
	req := tcssm.NewUpdateSecretRequest()
	req.SecretName, req.VersionId = common.StringPtr(h.name), common.StringPtr(h.version)
	req.SecretString = common.StringPtr(string(config))
	if _, err := c.UpdateSecret(req); err != nil {
		return "", notFound(s.fail(ctx, "UpdateSecret", x, err), h)
	}
	return h.version, nil
}

// ReadBack implements port.Store with GetSecretValue of the version.
func (s *Store) ReadBack(ctx context.Context, _ port.Credentials, sec port.Secret, _ string) (port.Secret, error) {
	h, ok := sec.Handle.(handle)
	if !ok {
		return port.Secret{}, errors.New("ssm GetSecretValue: the secret was not read from SSM")
	}
	got, err := s.get(ctx, h)
	if err != nil && port.CodeOf(err) == port.CorruptSecretData {
		return got, nil // verification reports the difference
	}
	return got, err
}
