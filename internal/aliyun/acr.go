package aliyun

import (
	"context"
	"fmt"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr_ee"

	"github.com/sae-secret-rotator/rotator/rotation"
)

// ACREE is an ACR Enterprise Edition instance as a token source.
type ACREE struct {
	b     *Backend
	creds rotation.Credentials
	src   rotation.Source
}

func (a *ACREE) client(ctx context.Context) (*cr_ee.Client, error) {
	c, err := cr_ee.NewClientWithOptions(a.src.RegionID, a.b.config(), credentialOf(a.creds))
	if err != nil {
		return nil, fmt.Errorf("cr: cannot build a client for region %s", a.src.RegionID)
	}
	a.b.bind(c, ctx)
	return c, nil
}

func crFailure(action string, status int, ok bool, code string) error {
	if ok {
		return nil
	}
	if code == "" {
		code = "UnknownError"
	}
	return &CallError{Product: "cr", Action: action, Status: status, Code: code, Message: "IsSuccess is false"}
}

// Domains lists the domains of the instance's enabled Registry endpoints,
// public and VPC.
func (a *ACREE) Domains(ctx context.Context) ([]string, error) {
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	req := cr_ee.CreateListInstanceEndpointRequest()
	a.b.point(req, &req.Port, a.b.cr, "cr", a.src.RegionID, false)
	req.InstanceId = a.src.InstanceID
	req.ModuleName = "Registry"
	resp := cr_ee.CreateListInstanceEndpointResponse()
	if err := c.DoAction(req, resp); err != nil {
		return nil, callError(ctx, "cr", "ListInstanceEndpoint", err, a.b.timeout)
	}
	if err := crFailure("ListInstanceEndpoint", resp.GetHttpStatus(), resp.ListInstanceEndpointIsSuccess, resp.Code); err != nil {
		return nil, err
	}
	var out []string
	for _, ep := range resp.Endpoints {
		// Enable is the switch users flip; Status values are not documented, so they are not judged.
		if !ep.Enable {
			continue
		}
		for _, d := range ep.Domains {
			if d.Domain != "" {
				out = append(out, d.Domain)
			}
		}
	}
	return out, nil
}

// Token mints a temporary login. Its lifetime is ExpireTime, never assumed:
// signed with STS credentials it lives only as long as they do.
func (a *ACREE) Token(ctx context.Context) (rotation.Token, error) {
	c, err := a.client(ctx)
	if err != nil {
		return rotation.Token{}, err
	}
	req := cr_ee.CreateGetAuthorizationTokenRequest()
	a.b.point(req, &req.Port, a.b.cr, "cr", a.src.RegionID, false)
	req.InstanceId = a.src.InstanceID
	resp := cr_ee.CreateGetAuthorizationTokenResponse()
	if err := c.DoAction(req, resp); err != nil {
		return rotation.Token{}, callError(ctx, "cr", "GetAuthorizationToken", err, a.b.timeout)
	}
	if err := crFailure("GetAuthorizationToken", resp.GetHttpStatus(), resp.GetAuthorizationTokenIsSuccess, resp.Code); err != nil {
		return rotation.Token{}, err
	}
	tok := rotation.Token{Username: resp.TempUsername, Password: resp.AuthorizationToken}
	if resp.ExpireTime > 0 {
		tok.ExpiresAt = time.UnixMilli(resp.ExpireTime).UTC()
	}
	return tok, nil
}
