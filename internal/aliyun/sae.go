package aliyun

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/rotation"
)

// SAE is the secret store of one region, signed with one invocation's credentials.
type SAE struct {
	b      *Backend
	creds  rotation.Credentials
	region string
}

func (s *SAE) client(ctx context.Context) (*sae.Client, error) {
	c, err := sae.NewClientWithOptions(s.region, s.b.config(), credentialOf(s.creds))
	if err != nil {
		return nil, fmt.Errorf("sae: cannot build a client for region %s", s.region)
	}
	s.b.bind(c, ctx)
	return c, nil
}

// envelope checks SAE's success flag: a 2xx answer can still say Success false.
func envelope(action string, status int, success bool, code, message string) error {
	if success {
		return nil
	}
	if code == "" {
		code = "UnknownError"
	}
	return &CallError{Product: "sae", Action: action, Status: status, Code: code, Message: message}
}

// ListSecrets reads every secret of a namespace, with data and related apps.
func (s *SAE) ListSecrets(ctx context.Context, namespaceID string) ([]rotation.Secret, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	req := sae.CreateListSecretsRequest()
	s.b.point(req, &req.Port, s.b.sae, "sae", s.region, true)
	req.NamespaceId = namespaceID
	resp := sae.CreateListSecretsResponse()
	if err := c.DoAction(req, resp); err != nil {
		return nil, callError(ctx, "sae", "ListSecrets", err, s.b.timeout)
	}
	if err := envelope("ListSecrets", resp.GetHttpStatus(), resp.Success, resp.Code, resp.Message); err != nil {
		return nil, err
	}
	out := make([]rotation.Secret, 0, len(resp.Data.Secrets))
	for _, sec := range resp.Data.Secrets {
		apps := make([]rotation.App, 0, len(sec.RelateApps))
		for _, a := range sec.RelateApps {
			apps = append(apps, rotation.App{AppID: a.AppId, AppName: a.AppName})
		}
		ns := sec.NamespaceId
		if ns == "" {
			ns = namespaceID
		}
		out = append(out, rotation.Secret{NamespaceID: ns, ID: sec.SecretId, Name: sec.SecretName, Type: sec.SecretType,
			Data: stringMap(sec.SecretData), RelateApps: apps})
	}
	return out, nil
}

// DescribeSecret reads one secret.
func (s *SAE) DescribeSecret(ctx context.Context, namespaceID string, id int64) (rotation.Secret, error) {
	c, err := s.client(ctx)
	if err != nil {
		return rotation.Secret{}, err
	}
	req := sae.CreateDescribeSecretRequest()
	s.b.point(req, &req.Port, s.b.sae, "sae", s.region, true)
	req.NamespaceId = namespaceID
	req.SecretId = requests.NewInteger64(id)
	resp := sae.CreateDescribeSecretResponse()
	if err := c.DoAction(req, resp); err != nil {
		return rotation.Secret{}, callError(ctx, "sae", "DescribeSecret", err, s.b.timeout)
	}
	if err := envelope("DescribeSecret", resp.GetHttpStatus(), resp.Success, resp.Code, resp.Message); err != nil {
		return rotation.Secret{}, err
	}
	d := resp.Data
	apps := make([]rotation.App, 0, len(d.RelateApps))
	for _, a := range d.RelateApps {
		apps = append(apps, rotation.App{AppID: a.AppId, AppName: a.AppName})
	}
	return rotation.Secret{NamespaceID: namespaceID, ID: id, Name: d.SecretName, Type: d.SecretType,
		Data: stringMap(d.SecretData), RelateApps: apps}, nil
}

// UpdateSecret replaces the secret's data: every key must be given. The
// query value is the wrapped form {"SecretData":"<JSON object>"} that SAE
// expects today (ALIBABA-API-NOTES.md); the SDK would send the bare object.
func (s *SAE) UpdateSecret(ctx context.Context, namespaceID string, id int64, data map[string]string) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	inner, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("sae UpdateSecret: cannot encode the secret data")
	}
	wrapped, err := json.Marshal(map[string]string{"SecretData": string(inner)})
	if err != nil {
		return fmt.Errorf("sae UpdateSecret: cannot encode the secret data")
	}
	req := sae.CreateUpdateSecretRequest()
	s.b.point(req, &req.Port, s.b.sae, "sae", s.region, true)
	req.NamespaceId = namespaceID
	req.SecretId = requests.NewInteger64(id)
	req.SecretData = string(wrapped)
	resp := sae.CreateUpdateSecretResponse()
	if err := c.DoAction(req, resp); err != nil {
		return callError(ctx, "sae", "UpdateSecret", err, s.b.timeout)
	}
	return envelope("UpdateSecret", resp.GetHttpStatus(), resp.Success, resp.Code, resp.Message)
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
