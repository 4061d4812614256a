package emulator_test

import (
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/emulator"
)

func TestSAERoundTrip(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	other := seedSecret(t, srv, "cn-hangzhou:staging", "acr-pull")
	if id != 1 || other != 2 {
		t.Fatalf("ids: want 1 and 2, got %d and %d", id, other)
	}
	c := saeClient(t, emulator.DefaultCredential)
	before, _ := srv.Secret(nsProd, id)

	d, err := describe(srv, c, nsProd, id)
	if err != nil {
		t.Fatalf("DescribeSecret: %v", err)
	}
	if !d.Success || d.Code != "200" || d.Message != "success" || d.RequestId == "" || d.TraceId == "" {
		t.Fatalf("envelope: success=%v code=%q message=%q", d.Success, d.Code, d.Message)
	}
	if d.Data.NamespaceId != nsProd || d.Data.SecretId != id || d.Data.SecretName != "acr-pull" || d.Data.SecretType != dockerCfg {
		t.Fatalf("describe fields: %q %d %q %q", d.Data.NamespaceId, d.Data.SecretId, d.Data.SecretName, d.Data.SecretType)
	}
	if d.Data.SecretData[".dockerconfigjson"] != before.Data[".dockerconfigjson"] || len(d.Data.SecretData) != 1 {
		t.Fatal("describe: SecretData differs from the stored data")
	}
	if d.Data.CreateTime == 0 || d.Data.UpdateTime != before.UpdateTime {
		t.Fatalf("describe times: create %d update %d (stored %d)", d.Data.CreateTime, d.Data.UpdateTime, before.UpdateTime)
	}
	if len(d.Data.RelateApps) != 1 || d.Data.RelateApps[0].AppId != "app-1" || d.Data.RelateApps[0].AppName != "web" {
		t.Fatalf("describe RelateApps: %+v", d.Data.RelateApps)
	}

	// ListSecrets answers metadata and apps, no SecretData (the current
	// reference); the older shape carries it.
	l, err := list(srv, c, nsProd)
	if err != nil {
		t.Fatalf("ListSecrets: %v", err)
	}
	if len(l.Data.Secrets) != 1 || l.Data.Secrets[0].SecretId != id || l.Data.Secrets[0].SecretName != "acr-pull" ||
		l.Data.Secrets[0].SecretData != nil || len(l.Data.Secrets[0].RelateApps) != 1 {
		t.Fatalf("ListSecrets: want only secret %d with its apps and no data, got %d secrets", id, len(l.Data.Secrets))
	}
	srv.SetListSecretsData(true)
	if l, err = list(srv, c, nsProd); err != nil || len(l.Data.Secrets) != 1 ||
		l.Data.Secrets[0].SecretData[".dockerconfigjson"] != before.Data[".dockerconfigjson"] {
		t.Fatalf("ListSecrets, older shape: want secret %d with its data: %v", id, err)
	}
	srv.SetListSecretsData(false)

	newData := dockerData("new-user", "new-pass")
	newData["extra"] = "kept"
	newData["odd_chars.txt"] = "a+b c/d=é*~%20&x=1;y\n"
	u, err := update(srv, c, nsProd, id, wrapped(newData))
	if err != nil {
		t.Fatalf("UpdateSecret: %v", err)
	}
	if !u.Success || u.Data.SecretId != id {
		t.Fatalf("UpdateSecret answer: success=%v id=%d", u.Success, u.Data.SecretId)
	}
	after, _ := srv.Secret(nsProd, id)
	if !maps.Equal(after.Data, newData) {
		t.Fatal("UpdateSecret: stored data is not the new data")
	}
	if after.UpdateTime <= before.UpdateTime || after.CreateTime != before.CreateTime {
		t.Fatalf("UpdateSecret times: update %d -> %d, create %d -> %d", before.UpdateTime, after.UpdateTime, before.CreateTime, after.CreateTime)
	}
	d, err = describe(srv, c, nsProd, id)
	if err != nil || d.Data.SecretData["extra"] != "kept" || d.Data.UpdateTime != after.UpdateTime {
		t.Fatalf("describe after update: err=%v", err)
	}
	if o, _ := srv.Secret("cn-hangzhou:staging", other); !maps.Equal(o.Data, before.Data) {
		t.Fatal("the other namespace's secret changed")
	}

	calls := srv.Calls()
	var actions []string
	for _, call := range calls {
		actions = append(actions, call.Permission())
		if call.Status != 200 || call.Code != "" || call.AccessKeyID != emulator.DefaultCredential.AccessKeyID || call.Product != "sae" {
			t.Errorf("call %s: status %d code %q ak %q product %q", call.Action, call.Status, call.Code, call.AccessKeyID, call.Product)
		}
	}
	want := []string{"sae:DescribeSecret", "sae:ListSecrets", "sae:ListSecrets", "sae:UpdateSecret", "sae:DescribeSecret"}
	if !reflect.DeepEqual(actions, want) {
		t.Fatalf("calls: want %v, got %v", want, actions)
	}
	if calls[3].Method != http.MethodPut || calls[3].Path != "/pop/v1/sam/secret/secret" || calls[3].Query.Get("SecretId") != itoa(id) {
		t.Fatalf("UpdateSecret call: %s %s", calls[3].Method, calls[3].Path)
	}
	srv.ResetCalls()
	if len(srv.Calls()) != 0 {
		t.Fatal("ResetCalls left calls")
	}
}

func TestUpdateSecretRefusals(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	srv.AddNamespace("cn-hangzhou:empty")
	c := saeClient(t, emulator.DefaultCredential)
	fresh := dockerData("leaked-user", "leaked-pass-12345")
	before, _ := srv.Secret(nsProd, id)

	tests := []struct {
		name       string
		ns         string
		id         int64
		secretData string
		code       string
		status     int
	}{
		{"plain object form", nsProd, id, plain(fresh), "InvalidParameter.WithMessage", 400},
		{"wrapped non-object", nsProd, id, `{"SecretData":"\"leaked-pass-12345\""}`, "InvalidParameter.WithMessage", 400},
		{"wrapped array", nsProd, id, `{"SecretData":"[\"leaked-pass-12345\"]"}`, "InvalidParameter.WithMessage", 400},
		{"wrapped object not string", nsProd, id, `{"SecretData":{".dockerconfigjson":"leaked-pass-12345"}}`, "InvalidParameter.WithMessage", 400},
		{"wrapped non-string value", nsProd, id, wrappedRaw(`{".dockerconfigjson":{"p":"leaked-pass-12345"}}`), "InvalidParameter.WithMessage", 400},
		{"wrapped plus other keys", nsProd, id, `{"SecretData":"{\"a\":\"leaked-pass-12345\"}","x":"y"}`, "InvalidParameter.WithMessage", 400},
		{"wrapped empty object", nsProd, id, wrappedRaw(`{}`), "InvalidParameter.WithMessage", 400},
		{"not JSON", nsProd, id, "leaked-pass-12345", "InvalidParameter.WithMessage", 400},
		{"missing SecretData", nsProd, id, "", "InvalidParameter.NotEmpty", 400},
		{"missing NamespaceId", "", id, wrapped(fresh), "InvalidParameter.NotEmpty", 400},
		{"missing SecretId", nsProd, 0, wrapped(fresh), "InvalidParameter.NotEmpty", 400},
		{"unknown secret", nsProd, 999, wrapped(fresh), "InvalidSecretId.NotFound", 400},
		{"secret of another namespace", "cn-hangzhou:empty", id, wrapped(fresh), "InvalidSecretId.NotFound", 400},
		{"unknown namespace", "cn-hangzhou:nope", id, wrapped(fresh), "InvalidNamespaceId.NotFound", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := sae.CreateUpdateSecretRequest()
			roa(srv, req.RoaRequest)
			req.NamespaceId = tc.ns
			if tc.id != 0 {
				req.SecretId = itoaInteger(tc.id)
			}
			req.SecretData = tc.secretData
			_, err := saeAnswer(c.UpdateSecret(req))
			serverError(t, err, tc.code, tc.status)
			if strings.Contains(err.Error(), "leaked-pass-12345") || strings.Contains(err.Error(), "bGVha2Vk") {
				t.Fatal("the error message echoes the secret data")
			}
			if after, _ := srv.Secret(nsProd, id); !maps.Equal(after.Data, before.Data) || after.UpdateTime != before.UpdateTime {
				t.Fatal("a refused update changed the stored secret")
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	c := saeClient(t, emulator.DefaultCredential)
	tests := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"describe unknown secret", func() error { _, err := describe(srv, c, nsProd, id+1); return err }, "InvalidSecretId.NotFound", 400},
		{"describe unknown namespace", func() error { _, err := describe(srv, c, "cn-hangzhou:nope", id); return err }, "InvalidNamespaceId.NotFound", 404},
		{"describe without namespace", func() error { _, err := describe(srv, c, "", id); return err }, "InvalidParameter.NotEmpty", 400},
		{"list unknown namespace", func() error { _, err := list(srv, c, "cn-hangzhou:nope"); return err }, "InvalidNamespaceId.NotFound", 404},
		{"list without namespace", func() error { _, err := list(srv, c, ""); return err }, "InvalidParameter.NotEmpty", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			serverError(t, tc.call(), tc.code, tc.status)
		})
	}
	calls := srv.Calls()
	if n := len(calls); n != len(tests) {
		t.Fatalf("want %d calls, got %d", len(tests), n)
	}
	if calls[0].Code != "InvalidSecretId.NotFound" || calls[0].Status != 400 {
		t.Fatalf("recorded: %d %q", calls[0].Status, calls[0].Code)
	}
}

func TestCreateSecretAPI(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	srv.AddNamespace(nsProd)
	c := saeClient(t, emulator.DefaultCredential)
	create := func(name, typ, data string) (*sae.CreateSecretResponse, error) {
		req := sae.CreateCreateSecretRequest()
		roa(srv, req.RoaRequest)
		req.NamespaceId = nsProd
		req.SecretName = name
		req.SecretType = typ
		req.SecretData = data
		return saeAnswer(c.CreateSecret(req))
	}
	data := dockerData("u", "p")
	resp, err := create("acr-pull", dockerCfg, wrapped(data))
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	got, ok := srv.Secret(nsProd, resp.Data.SecretId)
	if !ok || got.Name != "acr-pull" || got.Type != dockerCfg || !maps.Equal(got.Data, data) || got.CreateTime == 0 {
		t.Fatalf("created secret: ok=%v name=%q type=%q", ok, got.Name, got.Type)
	}
	if calls := srv.Calls(); calls[0].Permission() != "sae:CreateSecret" {
		t.Fatalf("permission %q", calls[0].Permission())
	}
	_, err = create("acr-pull", dockerCfg, wrapped(data))
	serverError(t, err, "InvalidParameter.WithMessage", 400)
	_, err = create("other", dockerCfg, plain(data))
	serverError(t, err, "InvalidParameter.WithMessage", 400)
	_, err = create("other", "", wrapped(data))
	serverError(t, err, "InvalidParameter.NotEmpty", 400)
	if n := len(srv.Secrets(nsProd)); n != 1 {
		t.Fatalf("want 1 secret, got %d", n)
	}
}

func TestDirectState(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id, err := srv.CreateSecret(emulator.Secret{NamespaceID: nsProd, ID: 16, Name: "a", Data: map[string]string{"k": "v"}})
	if err != nil || id != 16 {
		t.Fatalf("explicit id: %d %v", id, err)
	}
	if _, err := srv.CreateSecret(emulator.Secret{NamespaceID: nsProd, ID: 16}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	if _, err := srv.CreateSecret(emulator.Secret{Name: "x"}); err == nil {
		t.Fatal("empty namespace accepted")
	}
	next, _ := srv.CreateSecret(emulator.Secret{NamespaceID: "cn-beijing:x", Name: "a"})
	if next != 17 {
		t.Fatalf("next id: want 17, got %d", next)
	}
	sec, _ := srv.Secret(nsProd, 16)
	if sec.Type != "Opaque" || sec.UpdateTime != sec.CreateTime {
		t.Fatalf("defaults: type %q times %d %d", sec.Type, sec.CreateTime, sec.UpdateTime)
	}
	sec.Data["k"] = "mutated"
	if again, _ := srv.Secret(nsProd, 16); again.Data["k"] != "v" {
		t.Fatal("Secret does not return a deep copy")
	}
	if _, ok := srv.Secret("cn-beijing:x", 16); ok {
		t.Fatal("Secret found an id in the wrong namespace")
	}
	if err := srv.SetSecretData(nsProd, 16, map[string]string{"k": "foreign"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetSecretData(nsProd, 17, nil); err == nil {
		t.Fatal("SetSecretData in the wrong namespace accepted")
	}
	c := saeClient(t, emulator.DefaultCredential)
	d, err := describe(srv, c, nsProd, 16)
	if err != nil || d.Data.SecretData["k"] != "foreign" || d.Data.UpdateTime <= sec.UpdateTime {
		t.Fatalf("foreign edit not visible: %v", err)
	}
	if len(srv.Calls()) != 1 {
		t.Fatal("direct state access was recorded")
	}
}

func wrappedRaw(innerJSON string) string {
	return `{"SecretData":` + quoteJSON(innerJSON) + `}`
}

func TestUnsupportedRoutes(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	c := saeClient(t, emulator.DefaultCredential)
	req := sae.CreateDeleteSecretRequest()
	roa(srv, req.RoaRequest)
	req.NamespaceId, req.SecretId = nsProd, itoaInteger(id)
	_, err := c.DeleteSecret(req)
	serverError(t, err, "InvalidAction.NotFound", 404)
	if _, ok := srv.Secret(nsProd, id); !ok {
		t.Fatal("the secret was deleted")
	}
	resp, err := http.Get(srv.URL() + "/favicon.ico")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown path: %v", err)
	}
	_ = resp.Body.Close()
	calls := srv.Calls()
	if len(calls) != 1 || calls[0].Action != "DeleteSecret" || calls[0].Status != 404 {
		t.Fatalf("want only the DeleteSecret call recorded, got %d", len(calls))
	}
}
