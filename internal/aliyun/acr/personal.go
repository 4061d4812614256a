package acr

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr"

	"github.com/sae-secret-rotator/rotator/internal/aliyun"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// The ACR Personal Edition source (product cr, 2016-06-07, ROA): a temporary
// token of the account's Personal Edition registry in a region.
//
// Instances created since 2024-09-09 have domains of their own,
// crpi-<id>.<region>.personal.cr.aliyuncs.com and
// crpi-<id>-vpc.<region>.personal.cr.aliyuncs.com
// (https://www.alibabacloud.com/help/en/acr/user-guide/individual-edition-instance-independent-domain-name-capacity-limit);
// earlier ones keep registry[-vpc].<region>.aliyuncs.com. No documented API
// mints a temporary token for one crpi- instance: GET /tokens, the
// documented Personal Edition call, names none, so the token is minted the
// same way with or without instanceId, which only chooses the domains.

// PersonalKind is the `acr-personal` source of the configuration.
type PersonalKind struct{}

// Name implements port.SourceKind.
func (PersonalKind) Name() string { return "acr-personal" }

// NewConfig implements port.SourceKind.
func (PersonalKind) NewConfig() port.SourceConfig { return &PersonalConfig{} }

// Open implements port.SourceKind.
func (PersonalKind) Open(env port.Env) (port.Source, error) {
	c, err := openPlumbing(env, cr.GetEndpointMap)
	if err != nil {
		return nil, err
	}
	return &Personal{c}, nil
}

// PersonalConfig is an `acr-personal` source.
type PersonalConfig struct {
	RegionID string `json:"regionId"`
	// InstanceID is a Personal Edition instance with its own domains
	// (crpi-...); "" is the region's shared registry.
	InstanceID string   `json:"instanceId,omitempty"`
	Domains    []string `json:"domains,omitempty"`
	AssumeRole string   `json:"assumeRole,omitempty"`
}

var crpiInstance = regexp.MustCompile(`^crpi-[a-z0-9]+$`)

// Validate implements port.SourceConfig.
func (c *PersonalConfig) Validate() error {
	if err := validRegion(c.RegionID); err != nil {
		return err
	}
	if c.InstanceID != "" && !crpiInstance.MatchString(c.InstanceID) {
		return fmt.Errorf("instanceId: %q is not a Personal Edition instance id such as \"crpi-abc123\"", c.InstanceID)
	}
	if err := validDomains(c.Domains); err != nil {
		return err
	}
	return validRole(c.AssumeRole)
}

// Key implements port.SourceConfig.
func (c *PersonalConfig) Key() string {
	return c.RegionID + "/" + c.InstanceID + "/" + strings.Join(c.Domains, ",") + "/" + c.AssumeRole
}

// Matches implements port.SourceConfig: CloudEvents name no Personal
// Edition instance, so such a target rotates on the timer and on manual
// invokes only.
func (c *PersonalConfig) Matches(port.Event) bool { return false }

// DescribeEvent implements port.EventDescriber: the log line of an event's
// run names the instance the event names, as with an acr-ee source.
func (a *Personal) DescribeEvent(ev port.Event) []port.Field { return describeEvent(ev) }

// Describe implements port.SourceConfig.
func (c *PersonalConfig) Describe() string {
	if c.InstanceID != "" {
		return "acr-personal " + c.InstanceID + " (" + c.RegionID + ")"
	}
	return "acr-personal " + c.RegionID
}

// Personal mints ACR Personal Edition temporary tokens.
type Personal struct{ plumbing }

// CheckCredentials refuses an invocation without Alibaba Cloud credentials.
func (p *Personal) CheckCredentials(c port.Credentials) error { return aliyun.CheckCredentials(c) }

// Sensitive lists the assumed roles' secrets, for the engine's redactor.
func (p *Personal) Sensitive() []string { return p.roles.sensitive() }

// Domains implements port.Source: the configured domains, or the
// instance's own public and VPC hosts, or the region's shared ones.
func (p *Personal) Domains(_ context.Context, _ port.Credentials, cfg port.SourceConfig) ([]port.Domain, error) {
	c := cfg.(*PersonalConfig)
	if len(c.Domains) > 0 {
		return configured(c.Domains), nil
	}
	if c.InstanceID != "" {
		return []port.Domain{
			{Host: c.InstanceID + "." + c.RegionID + ".personal.cr.aliyuncs.com"},
			{Host: c.InstanceID + "-vpc." + c.RegionID + ".personal.cr.aliyuncs.com", Private: true},
		}, nil
	}
	return []port.Domain{
		{Host: "registry." + c.RegionID + ".aliyuncs.com"},
		{Host: "registry-vpc." + c.RegionID + ".aliyuncs.com", Private: true},
	}, nil
}

// personalToken is the answer's body: the SDK's response struct has no fields.
type personalToken struct {
	Data *struct {
		AuthorizationToken string `json:"authorizationToken"`
		TempUserName       string `json:"tempUserName"`
		ExpireDate         int64  `json:"expireDate"` // ms
	} `json:"data"`
}

// Mint implements port.Source. As for Enterprise Edition, the expiry is
// read from the answer, never assumed.
func (p *Personal) Mint(ctx context.Context, caller port.Credentials, cfg port.SourceConfig) (port.Token, error) {
	c := cfg.(*PersonalConfig)
	creds, err := p.roles.credentials(ctx, caller, c.AssumeRole, c.RegionID)
	if err != nil {
		return port.Token{}, err
	}
	cl, err := cr.NewClientWithOptions(c.RegionID, p.b.Config(), aliyun.Credential(creds))
	if err != nil {
		return port.Token{}, fmt.Errorf("cr: cannot build a client for region %s", c.RegionID)
	}
	p.b.Bind(ctx, cl)
	req := cr.CreateGetAuthorizationTokenRequest()
	p.b.Point(req, &req.Port, p.ep, "cr", c.RegionID, true)
	resp := cr.CreateGetAuthorizationTokenResponse()
	if err := cl.DoAction(req, resp); err != nil {
		return port.Token{}, p.b.Fail(ctx, "cr", "GetAuthorizationToken", err)
	}
	var body personalToken
	// The body holds the token: a decoding error is never quoted.
	if json.Unmarshal(resp.GetHttpContentBytes(), &body) != nil || body.Data == nil || body.Data.AuthorizationToken == "" {
		return port.Token{}, &port.CallError{Product: "cr", Action: "GetAuthorizationToken", Status: resp.GetHttpStatus(),
			Code: "InvalidResponse", Detail: "the answer holds no data.authorizationToken"}
	}
	tok := port.Token{Username: body.Data.TempUserName, Password: body.Data.AuthorizationToken}
	if body.Data.ExpireDate > 0 {
		tok.ExpiresAt = time.UnixMilli(body.Data.ExpireDate).UTC()
	}
	return tok, nil
}
