package csms

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"

	v1 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/csms/v1/model"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// ShowSecretVersion's answer as the SDK types it (model.ShowSecretVersionResponse,
// model.Version, model.VersionMetadata), decoded here from its raw JSON: the
// SDK's decoder fails the whole answer on a member of another type, and an
// odd create_time must leave the change time unknown, not fail the read.
// Only the members the adapter reads are declared.
type versionAnswer struct {
	Version *struct {
		VersionMetadata *struct {
			ID         *string         `json:"id"`
			CreateTime json.RawMessage `json:"create_time"`
		} `json:"version_metadata"`
		SecretString *string `json:"secret_string"`
		SecretBinary *string `json:"secret_binary"`
	} `json:"version"`
}

// rawAnswer makes the SDK hand over an answer's body unread: it does so for
// a response type with a Body io.ReadCloser (core's deserializeResponse),
// after its error handling has turned every non-2xx answer into an error.
type rawAnswer struct {
	Body           io.ReadCloser
	HttpStatusCode int // set by the SDK, by this name
}

// maxAnswer bounds the answer read: a value is at most 32 KB (MaxValue).
const maxAnswer = 1 << 20

// showRaw is ShowSecretVersion, through the SDK's request definition and
// signing, with the answer decoded here.
func showRaw(ctx context.Context, c *v1.CsmsClient, timeout time.Duration, req *model.ShowSecretVersionRequest) (*versionAnswer, error) {
	def := v1.GenReqDefForShowSecretVersion()
	def.Response = new(rawAnswer)
	out, err := c.HcClient.Sync(req, def)
	if err != nil {
		return nil, fail(ctx, "ShowSecretVersion", timeout, err)
	}
	raw, ok := out.(*rawAnswer)
	if !ok || raw.Body == nil {
		return nil, &port.CallError{Product: "csms", Action: "ShowSecretVersion", Code: "InvalidResponse", Detail: "the answer has no body"}
	}
	defer raw.Body.Close()
	body, err := io.ReadAll(io.LimitReader(raw.Body, maxAnswer+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, &port.CallError{Product: "csms", Action: "ShowSecretVersion", Detail: "cancelled: the invocation's deadline came"}
	case err != nil:
		return nil, &port.CallError{Product: "csms", Action: "ShowSecretVersion", Detail: "the answer could not be read"}
	case len(body) > maxAnswer:
		return nil, &port.CallError{Product: "csms", Action: "ShowSecretVersion", Status: raw.HttpStatusCode, Code: "InvalidResponse", Detail: "the answer is larger than 1 MiB"}
	}
	var ans versionAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, &port.CallError{Product: "csms", Action: "ShowSecretVersion", Status: raw.HttpStatusCode, Code: "InvalidResponse", Detail: "the answer does not decode"}
	}
	return &ans, nil
}

// changed reads a version's create_time. The API reference's text says
// seconds since the epoch; its examples, and Huawei's own Terraform
// provider, take it as milliseconds (docs/cloud-apis.md). The two never
// overlap for a date after 1973: 1e11 and above is milliseconds. Zero
// (unknown) when absent, not an integer or not positive.
func changed(raw json.RawMessage) time.Time {
	v, err := strconv.ParseInt(string(raw), 10, 64)
	switch {
	case err != nil || v <= 0:
		return time.Time{}
	case v >= 1e11:
		return time.UnixMilli(v)
	default:
		return time.Unix(v, 0)
	}
}
