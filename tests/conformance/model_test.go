package conformance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The API models of testdata/api-models (see testdata/README.md): what the
// emulator's Alibaba Cloud answers and the adapters' requests are held to.

type param struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

type api struct {
	Name     string
	Product  string // the model file's product and version, e.g. "sae 2019-05-06"
	Style    string `json:"style"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Action   string `json:"action"`
	Version  string `json:"version"`
	Request  []param
	Response any // the nested response shape
}

type modelFile struct {
	Product string `json:"product"`
	Version string `json:"version"`
	APIs    map[string]struct {
		Style    string  `json:"style"`
		Method   string  `json:"method"`
		Path     string  `json:"path"`
		Action   string  `json:"action"`
		Version  string  `json:"version"`
		Request  []param `json:"request"`
		Response any     `json:"response"`
	} `json:"apis"`
}

// loadModels reads every API of testdata/api-models.
func loadModels(t *testing.T) []*api {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "api-models", "*.json"))
	if err != nil || len(files) != 5 {
		t.Fatalf("the API models: %v (%d files, want 5)", err, len(files))
	}
	var out []*api
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m modelFile
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, a := range m.APIs {
			out = append(out, &api{Name: name, Product: m.Product + " " + m.Version, Style: a.Style, Method: a.Method, Path: a.Path,
				Action: a.Action, Version: a.Version, Request: a.Request, Response: a.Response})
		}
	}
	return out
}

// rpcCommon are the parameters the Alibaba Cloud Go SDK adds to every RPC
// request it signs, beside the API's own: alibaba-cloud-sdk-go v1.63.107,
// sdk/auth/rpc_signature_composer.go, signRpcRequest (BearerToken too, for
// bearer-token credentials, which the function never uses). ROA requests
// carry their signature in headers (roa_signature_composer.go): no query
// parameter is common to them.
var rpcCommon = map[string]bool{"AccessKeyId": true, "Action": true, "Format": true, "RegionId": true, "SecurityToken": true,
	"Signature": true, "SignatureMethod": true, "SignatureNonce": true, "SignatureType": true, "SignatureVersion": true,
	"Timestamp": true, "Version": true}

// errorMembers are the members of an Alibaba Cloud error answer, as the Go
// SDK reads them (alibaba-cloud-sdk-go v1.63.107, sdk/errors/server_error.go,
// NewServerError): an error answer may carry these and the API's own
// top-level members (SAE's error envelope is its success envelope).
var errorMembers = map[string]any{"RequestId": "string", "HostId": "string", "Code": "string", "Message": "string",
	"Recommend": "string", "AccessDeniedDetail": map[string]any{}}

// findAPI names the API a request is for: RPC by Action and Version, ROA
// by method, path and the x-acs-version header.
func findAPI(models []*api, ex *exchange) *api {
	for _, a := range models {
		if ex.rpc() {
			p := ex.params()
			if a.Style == "RPC" && a.Action == p.Get("Action") && a.Version == p.Get("Version") {
				return a
			}
			continue
		}
		if a.Style == "ROA" && a.Method == ex.Method && a.Path == ex.Path && a.Version == ex.Header.Get("x-acs-version") {
			return a
		}
	}
	return nil
}

// checkRequest lists where an Alibaba request differs from its API's model:
// a parameter the model does not list, or in another place than it lists,
// or a required one missing.
func checkRequest(a *api, ex *exchange) []string {
	var bad []string
	places := map[string]string{}
	for _, p := range a.Request {
		places[p.Name] = p.In
	}
	for name := range ex.Query {
		switch in, ok := places[name]; {
		case ok && in == "query":
		case !ok && a.Style == "RPC" && rpcCommon[name]:
		case ok:
			bad = append(bad, fmt.Sprintf("query parameter %s: the model places it in %s", name, in))
		default:
			bad = append(bad, fmt.Sprintf("query parameter %s: not in the model", name))
		}
	}
	form, _ := url.ParseQuery(string(ex.Body))
	switch {
	case len(ex.Body) == 0:
	case strings.HasPrefix(ex.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		for name := range form {
			if in, ok := places[name]; !ok || in != "body" {
				bad = append(bad, fmt.Sprintf("body parameter %s: the model places it in %q", name, in))
			}
		}
	default:
		bad = append(bad, fmt.Sprintf("a %d-byte body: the model has no body parameter", len(ex.Body)))
	}
	for _, p := range a.Request {
		if p.Required && ex.Query.Get(p.Name) == "" && form.Get(p.Name) == "" {
			bad = append(bad, fmt.Sprintf("required parameter %s: missing", p.Name))
		}
	}
	sort.Strings(bad)
	return bad
}

// checkAnswer lists where an Alibaba answer differs from its API's model:
// a member the model does not list at that nesting, or of another JSON
// type; and, in a success answer, a top-level member of the model that is
// missing, unless the references document it as conditional. Error answers
// are held to errorMembers and the top level.
func checkAnswer(a *api, ex *exchange) []string {
	var body any
	dec := json.NewDecoder(bytes.NewReader(ex.Answer))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return []string{"the answer is not JSON"}
	}
	model := a.Response
	if ex.failed() {
		top := map[string]any{}
		for k, v := range errorMembers {
			top[k] = v
		}
		for k, v := range a.Response.(map[string]any) {
			if _, scalar := v.(string); scalar {
				top[k] = v
			}
		}
		model = top
	}
	var bad []string
	checkValue("", model, body, &bad)
	if obj, ok := body.(map[string]any); ok && !ex.failed() {
		for k := range a.Response.(map[string]any) {
			if _, has := obj[k]; !has && !mayLack(a, k, ex, obj) {
				bad = append(bad, fmt.Sprintf("%s: missing", k))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// conditional are the top-level members of a success answer that the
// references document as returned only in some cases: each may be absent
// when absent says so. Every other top-level member of the model must be
// there. The doc text quoted is the member's in the C# SDK's response
// model (aliyun/alibabacloud-csharp-sdk, <product>/core/Models/<API>ResponseBody.cs,
// at the commit named).
var conditional = map[string]map[string]func(ex *exchange, answer map[string]any) bool{
	// sae-20190506 at 0204f25a01: ErrorCode "is not returned if the request
	// succeeds" (ListSecrets, DescribeSecret, UpdateSecret and CreateSecret alike).
	"sae 2019-05-06 ListSecrets":    {"ErrorCode": always},
	"sae 2019-05-06 DescribeSecret": {"ErrorCode": always},
	"sae 2019-05-06 UpdateSecret":   {"ErrorCode": always},
	"sae 2019-05-06 CreateSecret":   {"ErrorCode": always},
	// sts-20150401 at 10b9d8098f: SourceIdentity has no doc text; it is the
	// optional request parameter of that name (AssumeRoleRequest.cs), "a
	// source identity that you set for the current session when you call an
	// OpenAPI operation to assume a RAM role"
	// (https://www.alibabacloud.com/help/en/ram/user-guide/session-tagging-and-fine-grained-access-control-for-assumed-roles-using-sourceidentity).
	// A request that sets none gets none back.
	"sts 2015-04-01 AssumeRole": {"SourceIdentity": func(ex *exchange, _ map[string]any) bool {
		return ex.params().Get("SourceIdentity") == ""
	}},
	// kms-20160120 at 22fe2c7ba2 (GetSecretValueResponseBody.cs).
	"kms 2016-01-20 GetSecretValue": {
		// "returned only for ApsaraDB RDS secrets, PolarDB secrets, Redis/Tair
		// secrets, RAM secrets, or ECS secrets": not for a Generic one.
		"AutomaticRotation": generic,
		// "returned only for [those secrets] when FetchExtendedConfig is set to true".
		"ExtendedConfig": func(ex *exchange, ans map[string]any) bool {
			return generic(ex, ans) || ex.params().Get("FetchExtendedConfig") != "true"
		},
		// "returned only when the secret has been rotated": nothing here can
		// tell from the exchange whether KMS ever rotated it.
		"LastRotationDate": always,
		// "returned only when automatic rotation is enabled".
		"NextRotationDate": rotationOff,
		"RotationInterval": rotationOff,
	},
}

func always(*exchange, map[string]any) bool { return true }

func generic(_ *exchange, ans map[string]any) bool { return ans["SecretType"] == "Generic" }

func rotationOff(_ *exchange, ans map[string]any) bool { return ans["AutomaticRotation"] != "Enabled" }

// byName is the top-level response model of the API "<product> <version> <name>" (nil when none is).
func byName(models []*api, name string) map[string]any {
	for _, a := range models {
		if a.Product+" "+a.Name == name {
			return a.Response.(map[string]any)
		}
	}
	return nil
}

// mayLack reports whether a success answer of a may lack its top-level member k.
func mayLack(a *api, k string, ex *exchange, answer map[string]any) bool {
	absent, ok := conditional[a.Product+" "+a.Name][k]
	return ok && absent(ex, answer)
}

func checkValue(path string, model, v any, bad *[]string) {
	if v == nil {
		*bad = append(*bad, fmt.Sprintf("%s: null, the model gives a value", orTop(path)))
		return
	}
	switch m := model.(type) {
	case map[string]any:
		obj, ok := v.(map[string]any)
		if !ok {
			*bad = append(*bad, fmt.Sprintf("%s: not an object", orTop(path)))
			return
		}
		if len(m) == 0 { // a free-form object (AccessDeniedDetail)
			return
		}
		for k, val := range obj {
			sub, ok := m[k]
			if !ok {
				*bad = append(*bad, fmt.Sprintf("%s: not in the model", join(path, k)))
				continue
			}
			checkValue(join(path, k), sub, val, bad)
		}
	case []any:
		arr, ok := v.([]any)
		if !ok || len(m) != 1 {
			*bad = append(*bad, fmt.Sprintf("%s: not an array", orTop(path)))
			return
		}
		for i, e := range arr {
			checkValue(fmt.Sprintf("%s[%d]", path, i), m[0], e, bad)
		}
	case string:
		if !scalarFits(m, v) {
			*bad = append(*bad, fmt.Sprintf("%s: not a %s", orTop(path), m))
		}
	}
}

// scalarFits reports whether a JSON value has the model's type.
func scalarFits(typ string, v any) bool {
	switch typ {
	case "string":
		_, ok := v.(string)
		return ok
	case "int32", "int64":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	}
	if elem, ok := strings.CutPrefix(typ, "map<string,"); ok {
		obj, isObj := v.(map[string]any)
		if !isObj {
			return false
		}
		for _, e := range obj {
			if !scalarFits(strings.TrimSuffix(elem, ">"), e) {
				return false
			}
		}
		return true
	}
	return false
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orTop(path string) string {
	if path == "" {
		return "the answer"
	}
	return path
}
