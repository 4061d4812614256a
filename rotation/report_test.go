package rotation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// failedResult is a failed SAE result as large as real ones get: the
// message cut to 300 characters, the registries written and the apps.
func failedResult(i int) Result {
	return Result{Target: "prod-pull", Where: saeWhere(int64(1000+i), fmt.Sprintf("acr-pull-%03d", i)),
		Status:     StatusFailed,
		Registries: []string{"x-registry.cn-hangzhou.cr.aliyuncs.com", "x-registry-vpc.cn-hangzhou.cr.aliyuncs.com"},
		RelateApps: []App{{AppID: fmt.Sprintf("app-%03d", i), AppName: "web"}},
		Error:      &ResultError{Code: VerificationFailed, Message: strings.Repeat("m", 300)}}
}

func rotatedResult(i int) Result {
	at := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	return Result{Target: "prod-pull", Where: saeWhere(int64(5000+i), ""),
		Status: StatusRotated, Login: LoginOK, ExpiresAt: &at, Registries: []string{"x-registry.cn-hangzhou.cr.aliyuncs.com"}}
}

// saeWhere is an SAE secret as its adapter names it.
func saeWhere(id int64, name string) Where {
	wh := Where{Store: "sae", Region: "cn-hangzhou", Fields: []port.Field{port.String("namespaceId", "cn-hangzhou:prod"), port.Int("secretId", id)}}
	if name != "" {
		wh.Fields = append(wh.Fields, port.String("secretName", name))
	}
	return wh
}

// idOf is the secretId a result names.
func idOf(r Result) int64 {
	v, _ := r.Where.Lookup("secretId")
	id, _ := v.(int64)
	return id
}

func newReport(results ...Result) *Report {
	r := &Report{RequestID: "1-67a1b2c3-d4e5f6", Trigger: "event", Reason: "registry push", Results: results}
	r.count()
	return r
}

// decoded is what a consumer of the failure destination reads.
type decoded struct {
	Report
	Truncated *Truncation `json:"truncated"`
}

func decodeSummary(t *testing.T, b []byte) decoded {
	t.Helper()
	var d decoded
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the summary is not JSON: %v", err)
	}
	return d
}

// A report of 300 failures is far over 64 KB; its summary is within the
// limit, keeps the counts, and carries the first failures in order with
// the number left out.
func TestSummaryOf300Failures(t *testing.T) {
	var results []Result
	for i := range 300 {
		results = append(results, failedResult(i))
	}
	rep := newReport(results...)
	if n := len(rep.JSON()); n <= 64<<10 {
		t.Fatalf("the whole report is %d bytes: the test needs one over 64 KB", n)
	}
	b, cut := rep.Summary(FailureMessageLimit)
	if len(b) > FailureMessageLimit || len(b) >= 64<<10 {
		t.Fatalf("summary is %d bytes, limit %d (and MNS's 64 KB)", len(b), FailureMessageLimit)
	}
	if !cut {
		t.Error("a summary of 300 failures over 64 KB does not say it was cut")
	}
	d := decodeSummary(t, b)
	if d.RequestID != rep.RequestID || d.Trigger != "event" || d.Reason != "registry push" || d.Failed != 300 || d.Rotated != 0 {
		t.Errorf("header and counts: %+v", d.Report)
	}
	if len(d.Results) == 0 || d.Truncated == nil {
		t.Fatalf("results %d, truncated %v: want failures and a note of what was left out", len(d.Results), d.Truncated)
	}
	for i, res := range d.Results {
		if idOf(res) != int64(1000+i) || res.Status != StatusFailed || res.Error == nil || res.Error.Code != VerificationFailed {
			t.Fatalf("result %d is %+v, want the %dth failure", i, res, i)
		}
	}
	if got, want := *d.Truncated, (Truncation{OmittedResults: 300 - len(d.Results), OmittedFailures: 300 - len(d.Results)}); got != want {
		t.Errorf("truncated %+v, want %+v", got, want)
	}
	// As many as fit: one more would not have.
	one := len(marshal(d.Results[0])) + 1
	if len(b)+one <= FailureMessageLimit {
		t.Errorf("summary of %d bytes with %d failures: another (%d bytes) would have fit", len(b), len(d.Results), one)
	}
}

// Only failures go into a summary; what else the report holds is counted.
func TestSummaryKeepsFailuresOnly(t *testing.T) {
	var results []Result
	for i := range 400 {
		if i%4 == 0 {
			results = append(results, failedResult(i))
		} else {
			results = append(results, rotatedResult(i))
		}
	}
	rep := newReport(results...)
	b, cut := rep.Summary(FailureMessageLimit)
	if !cut {
		t.Error("the summary does not say it was cut")
	}
	d := decodeSummary(t, b)
	if d.Rotated != 300 || d.Failed != 100 || d.Truncated == nil {
		t.Fatalf("counts %d rotated, %d failed, truncated %v", d.Rotated, d.Failed, d.Truncated)
	}
	for i, res := range d.Results {
		if res.Status != StatusFailed || idOf(res) != int64(1000+4*i) {
			t.Fatalf("result %d: %s %d, want the %dth failure", i, res.Status, idOf(res), i)
		}
	}
	if d.Truncated.OmittedResults != 400-len(d.Results) || d.Truncated.OmittedFailures != 100-len(d.Results) {
		t.Errorf("truncated %+v with %d results shown", *d.Truncated, len(d.Results))
	}
}

// A report that fits is the error message as it is.
func TestSummaryOfASmallReportIsTheReport(t *testing.T) {
	rep := newReport(rotatedResult(1), failedResult(2))
	if got, cut := rep.Summary(FailureMessageLimit); !bytes.Equal(got, rep.JSON()) || cut {
		t.Errorf("summary %s (cut %v)\nwant the report %s, not cut", got, cut, rep.JSON())
	}
	if bytes.Contains(rep.JSON(), []byte(`"truncated"`)) {
		t.Error("a whole report says truncated")
	}
}

// The header is bounded: a failure that does not fit is left out, never
// cut, and the summary stays within the limit.
func TestSummaryNeverExceedsTheLimit(t *testing.T) {
	big := failedResult(0)
	big.RelateApps = make([]App, 2000)
	for i := range big.RelateApps {
		big.RelateApps[i] = App{AppID: fmt.Sprintf("app-%04d", i), AppName: "web"}
	}
	rep := newReport(big, failedResult(1))
	rep.Reason = strings.Repeat("é", 4000)
	for _, limit := range []int{4 << 10, 16 << 10, FailureMessageLimit} {
		b, cut := rep.Summary(limit)
		if len(b) > limit || !cut {
			t.Errorf("limit %d: summary is %d bytes, cut %v", limit, len(b), cut)
		}
		d := decodeSummary(t, b)
		if len(d.Results) != 0 || d.Truncated == nil || d.Truncated.OmittedFailures != 2 {
			t.Errorf("limit %d: %d results, truncated %+v: the first failure does not fit, so none is shown", limit, len(d.Results), d.Truncated)
		}
		if !strings.HasPrefix(rep.Reason, strings.TrimSuffix(d.Reason, "…")) || len(d.Reason) > summaryTextLimit+len("…") {
			t.Errorf("limit %d: reason cut to %d bytes, not on a character of the original", limit, len(d.Reason))
		}
	}
}

// A result's JSON is one flat object, byte for byte as before the ports
// named secrets generically (the contract's result fields), and reads back.
func TestResultJSON(t *testing.T) {
	at := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	kms := Where{Store: "kms", Region: "cn-hangzhou", Fields: []port.Field{port.String("secretName", "acr-pull")}}
	ssm := Where{Store: "ssm", Region: "ap-guangzhou", Fields: []port.Field{port.String("secretName", "acr-pull")}}
	staging := Where{Store: "sae", Region: "cn-hangzhou", Fields: []port.Field{port.String("namespaceId", "cn-hangzhou:staging"), port.String("secretName", "acr-pull")}}
	withName := saeWhere(16, "acr-pull")
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Target: "prod-pull", Where: withName, Status: "rotated", Registries: []string{"x.example.com"}, Login: "ok", ExpiresAt: &at,
			ExpiresBeforeNextRun: true, RelateApps: []App{{AppID: "a", AppName: "web"}}},
			`{"target":"prod-pull","store":"sae","region":"cn-hangzhou","namespaceId":"cn-hangzhou:prod","secretId":16,"secretName":"acr-pull","status":"rotated","registries":["x.example.com"],"login":"ok","expiresAt":"2026-11-23T11:00:00Z","expiresBeforeNextRun":true,"relateApps":[{"appId":"a","appName":"web"}]}`},
		{Result{Target: "prod-pull", Where: staging, Status: "failed", Error: &ResultError{Code: "SecretNotFound", Message: "<no> & \"such\""}},
			`{"target":"prod-pull","store":"sae","region":"cn-hangzhou","namespaceId":"cn-hangzhou:staging","secretName":"acr-pull","status":"failed","error":{"code":"SecretNotFound","message":"\u003cno\u003e \u0026 \"such\""}}`},
		{Result{Target: "kms-pull", Where: kms, Status: "planned", Changes: &Changes{Added: []string{"x.example.com"}, Replaced: []string{}}, Login: "skipped"},
			`{"target":"kms-pull","store":"kms","region":"cn-hangzhou","secretName":"acr-pull","status":"planned","login":"skipped","changes":{"added":["x.example.com"],"replaced":[],"keptEntries":0,"keptKeys":0,"keptDataKeys":0}}`},
		{Result{Target: "ssm-pull", Where: ssm, Status: "skipped", Reason: "cooldown", VersionID: "current"},
			`{"target":"ssm-pull","store":"ssm","region":"ap-guangzhou","secretName":"acr-pull","status":"skipped","reason":"cooldown","versionId":"current"}`},
		{Result{Target: "t", Where: Where{Store: "sae"}, Status: "failed"}, `{"target":"t","store":"sae","status":"failed"}`},
	} {
		b, err := json.Marshal(tc.r)
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: %s (%v)\nwant %s", tc.r.Target, b, err, tc.want)
			continue
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(back); string(again) != tc.want {
			t.Errorf("%s: read back as %s", tc.r.Target, again)
		}
		if !reflect.DeepEqual(back.Where.Fields, tc.r.Where.Fields) {
			t.Errorf("%s: fields read back as %#v, want %#v", tc.r.Target, back.Where.Fields, tc.r.Where.Fields)
		}
	}
}
