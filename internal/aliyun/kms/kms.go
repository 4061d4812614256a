// Package kms is the Alibaba Cloud KMS Secrets Manager store (product kms,
// 2016-01-20, RPC): a generic secret whose text value is the docker config
// document itself ({"auths":{...}}), not base64-wrapped. A write stores a
// new version (PutSecretValue) that takes the ACSCurrent stage; the version
// before it becomes ACSPrevious, so a bad write can be rolled back in KMS.
package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/kms"

	"github.com/sae-secret-rotator/rotator/dockercfg"
	"github.com/sae-secret-rotator/rotator/internal/aliyun"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// EnvEndpoint overrides KMS's regional endpoint (kms.<region>.aliyuncs.com),
// e.g. with the VPC endpoint kms-vpc.<region>.aliyuncs.com.
const EnvEndpoint = "ROTATOR_KMS_ENDPOINT"

// Stages and data types of KMS secret versions.
const (
	StageCurrent = "ACSCurrent"
	TypeText     = "text"
	TypeBinary   = "binary"
)

// notFoundCodes are KMS's answers for a secret (or version) that does not
// exist: Forbidden.ResourceNotFound, HTTP 404.
var notFoundCodes = []string{"Forbidden.ResourceNotFound"}

// Kind is the `kms` store of the configuration.
type Kind struct{}

// Name implements port.StoreKind.
func (Kind) Name() string { return "kms" }

// NewRef implements port.StoreKind.
func (Kind) NewRef() port.SecretRef { return &Ref{} }

// Open implements port.StoreKind.
func (Kind) Open(env port.Env) (port.Store, error) {
	ep, err := aliyun.ParseEndpoint(EnvEndpoint, env.Getenv(EnvEndpoint))
	if err != nil {
		return nil, err
	}
	aliyun.FillEndpointMaps(kms.GetEndpointMap)
	return &Store{b: aliyun.Shared(env.APITimeout), ep: ep}, nil
}

// Ref is a KMS secret of the configuration, by name (or ARN) in a region.
type Ref struct {
	RegionID   string `json:"regionId"`
	SecretName string `json:"secretName"`
}

// Validate implements port.SecretRef.
func (r *Ref) Validate() error {
	switch {
	case r.RegionID == "":
		return errors.New("regionId: is required")
	case !port.ValidRegion(r.RegionID):
		return fmt.Errorf("regionId: %q is not a region id such as \"cn-hangzhou\"", r.RegionID)
	case r.SecretName == "":
		return errors.New("secretName: is required")
	case !port.Printable(r.SecretName):
		return errors.New("secretName: must be printable ASCII without spaces, at most 253 characters")
	}
	return nil
}

// Key implements port.SecretRef.
func (r *Ref) Key() string { return r.RegionID + "/" + r.SecretName }

// Group implements port.SecretRef: KMS reads one secret a call.
func (r *Ref) Group() string { return r.Key() }

// Where implements port.SecretRef.
func (r *Ref) Where() port.Where {
	return port.Where{Store: "kms", Region: r.RegionID, Fields: []port.Field{port.String("secretName", r.SecretName)}}
}

// Describe implements port.SecretRef.
func (r *Ref) Describe() string { return r.Where().Describe() }

// Store is KMS Secrets Manager, signed with each invocation's credentials.
type Store struct {
	b  *aliyun.Backend
	ep aliyun.Endpoint
}

// Quota implements port.Store. KMS limits its shared gateway per account
// and region by queries per second (https://www.alibabacloud.com/help/en/kms/key-management-service/product-overview/performance-data):
// GetSecretValue's group, "query secret information and get secret value",
// 450 a second; the page's other secret groups are lower (creating or
// deleting a secret 10, listing secrets and their metadata, low-frequency
// reads and writes, 40), and the versions of the page read do not say which
// group PutSecretValue is in. One pacer serves both calls, so it stays
// under the lowest group a write could fall in: 10 a second (the pacer
// sends 90% of it). A throttle (Rejected.Throttling, HTTP 429, the same
// page) slows the pacer further.
func (s *Store) Quota() port.Quota {
	return port.Quota{Calls: 10, Per: time.Second}
}

// CheckCredentials refuses an invocation without Alibaba Cloud credentials.
func (s *Store) CheckCredentials(c port.Credentials) error { return aliyun.CheckCredentials(c) }

func (s *Store) client(ctx context.Context, creds port.Credentials, region string) (*kms.Client, error) {
	c, err := kms.NewClientWithOptions(region, s.b.Config(), aliyun.Credential(creds))
	if err != nil {
		return nil, fmt.Errorf("kms: cannot build a client for region %s", region)
	}
	s.b.Bind(ctx, c)
	return c, nil
}

// secretValue is GetSecretValue's answer (kms-20160120
// GetSecretValueResponseBody), decoded from its raw JSON: the SDK's struct
// cannot tell an absent SecretData from an empty one.
type secretValue struct {
	SecretData     *string `json:"SecretData"`
	SecretDataType string  `json:"SecretDataType"`
	VersionID      string  `json:"VersionId"`
	// CreateTime: "The time when the secret was created", a string such as
	// "2024-02-21T15:39:26Z" (the model's text and example; the gateway's
	// GetSecretValue reference: docs/cloud-apis.md). Raw, so that another
	// type leaves it unknown instead of failing the read.
	CreateTime json.RawMessage `json:"CreateTime"`
}

// changed reads CreateTime as the time the value answered was stored: zero
// (unknown) when it is absent or not an RFC 3339 string. Were it the
// secret's own creation, it would be earlier than the value's, never later:
// the cooldown would then hold less often, never wrongly.
func (v *secretValue) changed() time.Time {
	var s string
	if json.Unmarshal(v.CreateTime, &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// get is GetSecretValue of a stage or a version.
func (s *Store) get(ctx context.Context, creds port.Credentials, r *Ref, stage, version string) (*secretValue, error) {
	c, err := s.client(ctx, creds, r.RegionID)
	if err != nil {
		return nil, err
	}
	req := kms.CreateGetSecretValueRequest()
	s.b.Point(req, &req.Port, s.ep, "kms", r.RegionID, false)
	req.SecretName = r.SecretName
	req.VersionStage = stage
	req.VersionId = version
	resp := responses.NewCommonResponse()
	if err := c.DoAction(req, resp); err != nil {
		return nil, notFound(s.b.Fail(ctx, "kms", "GetSecretValue", err), r, version)
	}
	var v secretValue
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &v); err != nil {
		return nil, &port.CallError{Product: "kms", Action: "GetSecretValue", Status: resp.GetHttpStatus(), Code: "InvalidResponse",
			Detail: "the answer is not the documented JSON"}
	}
	return &v, nil
}

// Read implements port.Store: the ACSCurrent version of the secret.
func (s *Store) Read(ctx context.Context, creds port.Credentials, ref port.SecretRef) (port.Snapshot, error) {
	r := ref.(*Ref)
	resp, err := s.get(ctx, creds, r, StageCurrent, "")
	if err != nil {
		return nil, err
	}
	return snapshot{ref: r, resp: resp}, nil
}

type snapshot struct {
	ref  *Ref
	resp *secretValue
}

// Find implements port.Snapshot.
func (s snapshot) Find(port.SecretRef) (port.Secret, error) { return unwrap(s.ref, s.resp) }

// unwrap checks the data type and the document; the secret's identity is
// filled in either way, for the report. Its handle is its Ref.
func unwrap(r *Ref, resp *secretValue) (port.Secret, error) {
	sec := port.Secret{Where: r.Where(), ID: r.RegionID + "/" + r.SecretName, Version: resp.VersionID, Changed: resp.changed(), Handle: r}
	if resp.SecretDataType != "" && resp.SecretDataType != TypeText {
		return sec, port.Errorf(port.UnsupportedSecretType, "kms secret %q in %s holds %s data; only text secrets holding a docker config are rotated",
			r.SecretName, r.RegionID, resp.SecretDataType)
	}
	if resp.SecretData == nil {
		// Never read as an empty value: nothing is written.
		return sec, port.Errorf(port.CorruptSecretData, "the GetSecretValue answer for kms secret %q in %s carries no SecretData", r.SecretName, r.RegionID)
	}
	doc := []byte(*resp.SecretData)
	if err := dockercfg.CheckText(doc); err != nil {
		return sec, port.Errorf(port.CorruptSecretData, "the value of kms secret %q in %s is not a docker config JSON object: %v", r.SecretName, r.RegionID, err)
	}
	sec.Config = doc
	return sec, nil
}

// MaxSecretData is the largest SecretData KMS stores, in bytes: 30 KB
// (the kms-20160120 CreateSecretRequest model of
// aliyun/alibabacloud-csharp-sdk; docs/cloud-apis.md).
const MaxSecretData = 30720

// CheckSize implements port.SizeLimiter.
func (s *Store) CheckSize(sec port.Secret, config []byte) error {
	if len(config) > MaxSecretData {
		r := refOf(sec)
		return port.Errorf(port.ValueTooLarge, "the docker config for kms secret %q in %s is %d bytes; KMS stores at most %d bytes a value (SecretData)",
			r.SecretName, r.RegionID, len(config), MaxSecretData)
	}
	return nil
}

// refOf is the secret a read found (its handle).
func refOf(sec port.Secret) *Ref {
	if r, ok := sec.Handle.(*Ref); ok {
		return r
	}
	return &Ref{}
}

// Write implements port.Store: PutSecretValue stores the merged document
// as a new version made here, staged ACSCurrent. KMS never changes a
// version's value, so every write makes its own version id. Every parameter
// goes in the query, as the API reference places it (docs/cloud-apis.md).
func (s *Store) Write(ctx context.Context, creds port.Credentials, sec port.Secret, config []byte) (string, error) {
	if err := s.CheckSize(sec, config); err != nil {
		return "", err
	}
	version, err := newVersionID(time.Now())
	if err != nil {
		return "", err
	}
	r, ok := sec.Handle.(*Ref)
	if !ok {
		return "", errors.New("kms PutSecretValue: the secret was not read from KMS")
	}
	c, err := s.client(ctx, creds, r.RegionID)
	if err != nil {
		return "", err
	}
	req := kms.CreatePutSecretValueRequest()
	s.b.Point(req, &req.Port, s.ep, "kms", r.RegionID, false)
	req.SecretName = r.SecretName
	req.VersionId = version
	req.SecretDataType = TypeText
	// A string holding a JSON array (the reference; its default is ACSCurrent).
	req.VersionStages = `["` + StageCurrent + `"]`
	req.SecretData = string(config)
	resp := responses.NewCommonResponse()
	if err := c.DoAction(req, resp); err != nil {
		return "", notFound(s.b.Fail(ctx, "kms", "PutSecretValue", err), r, "")
	}
	return version, nil
}

// ReadBack implements port.Store: GetSecretValue of the version written.
func (s *Store) ReadBack(ctx context.Context, creds port.Credentials, sec port.Secret, version string) (port.Secret, error) {
	r, ok := sec.Handle.(*Ref)
	if !ok {
		return port.Secret{}, errors.New("kms GetSecretValue: the secret was not read from KMS")
	}
	resp, err := s.get(ctx, creds, r, "", version)
	if err != nil {
		return port.Secret{}, err
	}
	got, err := unwrap(r, resp)
	if err != nil && port.CodeOf(err) == port.CorruptSecretData {
		return got, nil // verification reports the difference
	}
	return got, err
}

// newVersionID makes a version id unique to one write:
// "rotator-<UTC time>-<random hex>", 37 characters: a version number "can be
// up to 64 characters in length" (CreateSecret's VersionId,
// https://www.alibabacloud.com/help/en/kms/key-management-service/developer-reference/api-kms-2016-01-20-createsecret;
// PutSecretValue's page states no length).
func newVersionID(now time.Time) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", errors.New("kms PutSecretValue: cannot make a version id")
	}
	return "rotator-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// notFound gives KMS's not-found answer its report code.
func notFound(err error, r *Ref, version string) error {
	var ce *port.CallError
	if !errors.As(err, &ce) || !ce.HasCode(notFoundCodes...) {
		return err
	}
	if version != "" {
		return port.Errorf(port.SecretNotFound, "version %q of kms secret %q in %s does not exist (%s)", version, r.SecretName, r.RegionID, ce.Error())
	}
	return port.Errorf(port.SecretNotFound, "kms secret %q does not exist in %s (%s)", r.SecretName, r.RegionID, ce.Error())
}
