package csms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"

	"github.com/sae-secret-rotator/rotator/internal/endpoint"
	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// notFoundCodes are CSMS's answers for a secret that does not exist
// (DEW API reference, error codes; answered with HTTP 400).
var notFoundCodes = map[string]bool{"CSMS.0005": true, "CSMS.0106": true}

// fail turns an SDK error into a *port.CallError. Huawei Cloud's API
// gateway answers throttled calls with HTTP 429, error code APIGW.0308,
// "The throttling threshold has been reached" (the error codes of its API
// request signing guide,
// https://support.huaweicloud.com/intl/en-us/devg-apisign/api-sign-errorcode.html);
// the status alone decides.
func fail(ctx context.Context, action string, timeout time.Duration, err error) error {
	ce := &port.CallError{Product: "csms", Action: action}
	var se *sdkerr.ServiceResponseError
	var ue *url.Error
	switch {
	case errors.As(err, &se) && se.StatusCode >= 400:
		ce.Status, ce.Code, ce.Server = se.StatusCode, se.ErrorCode, se.ErrorMessage
		ce.Throttle = se.StatusCode == http.StatusTooManyRequests
		if ce.Code == "" {
			ce.Code = fmt.Sprintf("HTTP%d", ce.Status)
		}
	case errors.As(err, &se):
		// A 2xx answer whose body did not decode: the SDK puts the decoder's
		// words (which can quote the body) in ErrorMessage; they are dropped.
		ce.Status, ce.Code, ce.Detail = se.StatusCode, "InvalidResponse", "the answer does not decode"
	case errors.As(err, &ue):
		// url.Error holds the URL.
		ce.Detail = endpoint.TransportDetail(ctx, ue, false, timeout.String())
	default:
		// The SDK's own errors before sending (building or signing the request).
		ce.Detail, ce.Unsent = "the request could not be built", true
	}
	return ce
}

// notFound gives a missing secret its report code.
func notFound(err error, r *Ref) error {
	var ce *port.CallError
	if errors.As(err, &ce) && (ce.Status == http.StatusNotFound || notFoundCodes[ce.Code]) {
		return port.Errorf(port.SecretNotFound, "csms secret %q does not exist in project %s of %s (%s)",
			r.SecretName, r.ProjectID, r.Region, ce.Error())
	}
	return err
}
