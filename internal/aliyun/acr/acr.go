// Package acr is the ACR Enterprise Edition credential source (product cr,
// 2018-12-01, RPC): temporary tokens of an instance, for the domains of its
// enabled Registry endpoints.
package acr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr_ee"

	"github.com/sae-secret-rotator/rotator/internal/aliyun"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// EnvEndpoint overrides ACR's regional endpoint.
const EnvEndpoint = "ROTATOR_CR_ENDPOINT"

// EEKind is the `acr-ee` source of the configuration.
type EEKind struct{}

// Name implements port.SourceKind.
func (EEKind) Name() string { return "acr-ee" }

// NewConfig implements port.SourceKind.
func (EEKind) NewConfig() port.SourceConfig { return &EEConfig{} }

// Open implements port.SourceKind.
func (EEKind) Open(env port.Env) (port.Source, error) {
	c, err := openPlumbing(env, cr_ee.GetEndpointMap)
	if err != nil {
		return nil, err
	}
	return &EE{c}, nil
}

// plumbing is what both ACR sources hold: the shared SDK plumbing, the
// endpoint and the assumed roles' sessions.
type plumbing struct {
	b     *aliyun.Backend
	ep    aliyun.Endpoint
	roles *roles
}

func openPlumbing(env port.Env, fill func() map[string]string) (plumbing, error) {
	ep, err := aliyun.ParseEndpoint(EnvEndpoint, env.Getenv(EnvEndpoint))
	if err != nil {
		return plumbing{}, err
	}
	rl, err := openRoles(env)
	if err != nil {
		return plumbing{}, err
	}
	aliyun.FillEndpointMaps(fill)
	return plumbing{b: aliyun.Shared(env.APITimeout), ep: ep, roles: rl}, nil
}

// EEConfig is an `acr-ee` source.
type EEConfig struct {
	InstanceID string   `json:"instanceId"`
	RegionID   string   `json:"regionId"`
	Domains    []string `json:"domains,omitempty"`
	// AssumeRole is a RAM role to mint with (assume.go); "" mints with the
	// invocation's credentials.
	AssumeRole string `json:"assumeRole,omitempty"`
}

var instanceID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// Validate implements port.SourceConfig.
func (c *EEConfig) Validate() error {
	switch {
	case c.InstanceID == "":
		return errors.New("instanceId: is required")
	case !instanceID.MatchString(c.InstanceID):
		return fmt.Errorf("instanceId: %q is not an instance id such as \"cri-abc123\"", c.InstanceID)
	}
	if err := validRegion(c.RegionID); err != nil {
		return err
	}
	if err := validDomains(c.Domains); err != nil {
		return err
	}
	return validRole(c.AssumeRole)
}

func validRegion(r string) error {
	switch {
	case r == "":
		return errors.New("regionId: is required")
	case !port.ValidRegion(r):
		return fmt.Errorf("regionId: %q is not a region id such as \"cn-hangzhou\"", r)
	}
	return nil
}

func validDomains(doms []string) error {
	for i, d := range doms {
		if !port.Printable(d) || strings.ContainsAny(d, "\"") {
			return fmt.Errorf("domains[%d]: %q is not a registry host", i, d)
		}
	}
	return nil
}

// Key implements port.SourceConfig.
func (c *EEConfig) Key() string {
	return c.RegionID + "/" + c.InstanceID + "/" + strings.Join(c.Domains, ",") + "/" + c.AssumeRole
}

// Matches implements port.SourceConfig: an acs.cr event of the instance
// (and of its region, when the event names one).
func (c *EEConfig) Matches(ev port.Event) bool {
	inst := instanceOf(ev)
	return ev.Source == "acs.cr" && inst.InstanceID != "" && inst.InstanceID == c.InstanceID && (inst.RegionID == "" || inst.RegionID == c.RegionID)
}

// eventInstance is what an ACR event's data says of its instance
// (docs/events.md): data.InstanceId and data.RegionId, exact names.
type eventInstance struct {
	InstanceID, RegionID string
}

// instanceOf reads an event's instance. Data of another shape (a string,
// base64 data), or members of another type, name none: the event, well
// formed, simply matches no acr-ee target.
func instanceOf(ev port.Event) eventInstance {
	var in eventInstance
	var data map[string]json.RawMessage
	if json.Unmarshal(ev.Data, &data) == nil {
		_ = json.Unmarshal(data["InstanceId"], &in.InstanceID)
		_ = json.Unmarshal(data["RegionId"], &in.RegionID)
	}
	return in
}

// describeEvent is the instance an event names, for the log line that
// starts its run (port.EventDescriber), matched or not.
func describeEvent(ev port.Event) []port.Field {
	return []port.Field{port.String("eventInstanceId", instanceOf(ev).InstanceID)}
}

// DescribeEvent implements port.EventDescriber.
func (a *EE) DescribeEvent(ev port.Event) []port.Field { return describeEvent(ev) }

// Describe implements port.SourceConfig.
func (c *EEConfig) Describe() string { return "acr-ee " + c.InstanceID }

// EE mints ACR EE temporary tokens.
type EE struct{ plumbing }

// Sensitive lists the assumed roles' secrets, for the engine's redactor.
func (a *EE) Sensitive() []string { return a.roles.sensitive() }

// CheckCredentials refuses an invocation without Alibaba Cloud credentials.
func (a *EE) CheckCredentials(c port.Credentials) error { return aliyun.CheckCredentials(c) }

func (a *EE) client(ctx context.Context, creds port.Credentials, region string) (*cr_ee.Client, error) {
	c, err := cr_ee.NewClientWithOptions(region, a.b.Config(), aliyun.Credential(creds))
	if err != nil {
		return nil, fmt.Errorf("cr: cannot build a client for region %s", region)
	}
	a.b.Bind(ctx, c)
	return c, nil
}

func crFailure(action string, status int, ok bool, code string) error {
	if ok {
		return nil
	}
	if code == "" {
		code = "UnknownError"
	}
	ce := aliyun.Failure("cr", action, status, code)
	ce.Detail = "IsSuccess is false"
	return ce
}

// Domains implements port.Source: the configured domains, or those of
// the instance's enabled Registry endpoints, public ones first.
func (a *EE) Domains(ctx context.Context, creds port.Credentials, cfg port.SourceConfig) ([]port.Domain, error) {
	c := cfg.(*EEConfig)
	if len(c.Domains) > 0 {
		return configured(c.Domains), nil
	}
	cl, err := a.client(ctx, creds, c.RegionID)
	if err != nil {
		return nil, err
	}
	req := cr_ee.CreateListInstanceEndpointRequest()
	a.b.Point(req, &req.Port, a.ep, "cr", c.RegionID, false)
	req.InstanceId = c.InstanceID
	req.ModuleName = "Registry"
	resp := cr_ee.CreateListInstanceEndpointResponse()
	if err := cl.DoAction(req, resp); err != nil {
		return nil, a.b.Fail(ctx, "cr", "ListInstanceEndpoint", err)
	}
	if err := crFailure("ListInstanceEndpoint", resp.GetHttpStatus(), resp.ListInstanceEndpointIsSuccess, resp.Code); err != nil {
		return nil, err
	}
	var public, private []port.Domain
	for _, ep := range resp.Endpoints {
		// Enable is the switch users flip; Status values are not documented, so they are not judged.
		if !ep.Enable {
			continue
		}
		for _, d := range ep.Domains {
			switch {
			case d.Domain == "":
			case strings.EqualFold(ep.EndpointType, "internet"):
				public = append(public, port.Domain{Host: d.Domain})
			default:
				private = append(private, port.Domain{Host: d.Domain, Private: true})
			}
		}
	}
	return append(public, private...), nil
}

// configured marks VPC-looking hosts private, so public ones are tried first.
func configured(doms []string) []port.Domain {
	out := make([]port.Domain, 0, len(doms))
	for _, d := range doms {
		out = append(out, port.Domain{Host: d, Private: strings.Contains(strings.ToLower(d), "-vpc")})
	}
	return out
}

// Mint implements port.Source. The token's lifetime is ExpireTime, never
// assumed: signed with STS credentials it lives only as long as they do,
// which is why a source may mint with an assumed role's fresh session. The
// instance's domains are still read with the invocation's credentials, so
// the minting role needs no cr:ListInstanceEndpoint: it holds
// cr:GetAuthorizationToken and cr:PullRepository, since the token carries
// the permissions of whoever minted it (deploy/ram-minting-role-policy.json,
// docs/cloud-apis.md).
func (a *EE) Mint(ctx context.Context, caller port.Credentials, cfg port.SourceConfig) (port.Token, error) {
	c := cfg.(*EEConfig)
	creds, err := a.roles.credentials(ctx, caller, c.AssumeRole, c.RegionID)
	if err != nil {
		return port.Token{}, err
	}
	cl, err := a.client(ctx, creds, c.RegionID)
	if err != nil {
		return port.Token{}, err
	}
	req := cr_ee.CreateGetAuthorizationTokenRequest()
	a.b.Point(req, &req.Port, a.ep, "cr", c.RegionID, false)
	req.InstanceId = c.InstanceID
	resp := cr_ee.CreateGetAuthorizationTokenResponse()
	if err := cl.DoAction(req, resp); err != nil {
		return port.Token{}, a.b.Fail(ctx, "cr", "GetAuthorizationToken", err)
	}
	if err := crFailure("GetAuthorizationToken", resp.GetHttpStatus(), resp.GetAuthorizationTokenIsSuccess, resp.Code); err != nil {
		return port.Token{}, err
	}
	tok := port.Token{Username: resp.TempUsername, Password: resp.AuthorizationToken}
	if resp.ExpireTime > 0 {
		tok.ExpiresAt = time.UnixMilli(resp.ExpireTime).UTC()
	}
	return tok, nil
}
