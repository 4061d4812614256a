package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// The test binary doubles as a Function Compute function: with
// EMULATOR_TEST_FC_CHILD=1 it runs the real fc-runtime-go-sdk loop (fc.Start
// never returns) against the emulator named by FC_RUNTIME_API.
func TestMain(m *testing.M) {
	if os.Getenv("EMULATOR_TEST_FC_CHILD") == "1" {
		fc.Start(childHandler)
		return
	}
	os.Exit(m.Run())
}

type childEvent struct {
	Echo     string `json:"echo"`
	Sleep    string `json:"sleep"`
	Fail     bool   `json:"fail"`
	Describe int64  `json:"describe"` // DescribeSecret this id with the invocation's credentials
}

type childResult struct {
	RequestID  string `json:"requestId"`
	AK         string `json:"ak"`
	Token      string `json:"token"`
	Region     string `json:"region"`
	Account    string `json:"account"`
	Handler    string `json:"handler"`
	Timeout    int    `json:"timeout"`
	Retry      int    `json:"retry"`
	DeadlineMS int64  `json:"deadlineMs"`
	Echo       string `json:"echo"`
	SecretName string `json:"secretName"`
}

func childHandler(ctx context.Context, ev childEvent) (childResult, error) {
	fctx, _ := fccontext.FromContext(ctx)
	if ev.Sleep != "" {
		d, _ := time.ParseDuration(ev.Sleep)
		time.Sleep(d)
	}
	if ev.Fail {
		return childResult{}, errors.New("asked to fail")
	}
	deadline, _ := ctx.Deadline()
	res := childResult{
		RequestID: fctx.RequestID, AK: fctx.Credentials.AccessKeyId, Token: fctx.Credentials.SecurityToken,
		Region: fctx.Region, Account: fctx.AccountId, Handler: fctx.Function.Handler, Timeout: fctx.Function.Timeout,
		Retry: fctx.RetryCount, DeadlineMS: deadline.UnixMilli(), Echo: ev.Echo,
	}
	if ev.Describe != 0 {
		c := fctx.Credentials
		client, err := sae.NewClientWithOptions(fctx.Region, sdk.NewConfig().WithScheme("HTTP"),
			credentials.NewStsTokenCredential(c.AccessKeyId, c.AccessKeySecret, c.SecurityToken))
		if err != nil {
			return res, err
		}
		req := sae.CreateDescribeSecretRequest()
		req.Domain, req.Port, req.Scheme = "127.0.0.1", os.Getenv("EMULATOR_TEST_PORT"), "http"
		req.NamespaceId = os.Getenv("EMULATOR_TEST_NAMESPACE")
		req.SecretId = requests.NewInteger64(ev.Describe)
		resp, err := client.DescribeSecret(req)
		if err != nil {
			return res, err
		}
		res.SecretName = resp.Data.SecretName
	}
	return res, nil
}

func TestRealFCRuntimeLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	srv := startServer(t, emulator.Options{Credentials: []emulator.Credential{stsCred}, Region: "cn-shanghai", AccountID: "4242"})
	id := seedSecret(t, srv, nsProd, "acr-pull")

	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EMULATOR_TEST_FC_CHILD=1", "FC_RUNTIME_API="+srv.RuntimeAPI(),
		"EMULATOR_TEST_PORT="+srv.Port(), "EMULATOR_TEST_NAMESPACE="+nsProd)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("function output:\n%s", out.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.WaitPoll(ctx); err != nil {
		t.Fatalf("the function never polled: %v", err)
	}

	tests := []struct {
		name    string
		event   string
		timeout time.Duration
		retry   int
		failed  bool
		check   func(t *testing.T, r childResult)
	}{
		{"echo", `{"echo":"hello"}`, 30 * time.Second, 0, false, func(t *testing.T, r childResult) {
			if r.Echo != "hello" || r.Handler != "main" || r.Region != "cn-shanghai" || r.Account != "4242" || r.Timeout != 30 {
				t.Fatalf("context: %+v", r)
			}
		}},
		{"slow, runs concurrently", `{"sleep":"300ms","echo":"slow"}`, 0, 2, false, func(t *testing.T, r childResult) {
			if r.Echo != "slow" || r.Retry != 2 || r.Timeout != 60 {
				t.Fatalf("context: %+v", r)
			}
		}},
		{"handler error", `{"fail":true}`, 0, 0, true, nil},
		{"credentials reach the SDK", `{"describe":` + strconv.FormatInt(id, 10) + `}`, 0, 0, false, func(t *testing.T, r childResult) {
			if r.SecretName != "acr-pull" || r.AK != stsCred.AccessKeyID || r.Token != stsCred.SecurityToken {
				t.Fatalf("describe from the function: %+v", r)
			}
		}},
		{"not JSON", `not json`, 0, 0, true, nil},
	}
	var wg sync.WaitGroup
	results := make([]emulator.InvocationResult, len(tests))
	errs := make([]error, len(tests))
	starts := make([]time.Time, len(tests))
	for i, tc := range tests {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			starts[i] = time.Now()
			results[i], errs[i] = srv.Invoke(ctx, emulator.Invocation{
				RequestID: "req-" + strconv.Itoa(i), Payload: []byte(tc.event), Timeout: tc.timeout,
				Credentials: stsCred, RetryCount: tc.retry,
			})
		}(i)
	}
	wg.Wait()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if errs[i] != nil {
				t.Fatalf("Invoke: %v", errs[i])
			}
			r := results[i]
			if r.RequestID != "req-"+strconv.Itoa(i) || r.Failed != tc.failed {
				t.Fatalf("result id %q failed=%v: %s", r.RequestID, r.Failed, r.Payload)
			}
			if tc.failed {
				var fcErr struct {
					ErrorMessage string `json:"errorMessage"`
				}
				if err := json.Unmarshal(r.Payload, &fcErr); err != nil || fcErr.ErrorMessage == "" {
					t.Fatalf("error payload %s", r.Payload)
				}
				return
			}
			var res childResult
			if err := json.Unmarshal(r.Payload, &res); err != nil {
				t.Fatalf("payload %s: %v", r.Payload, err)
			}
			if res.RequestID != r.RequestID {
				t.Fatalf("handler saw request id %q", res.RequestID)
			}
			if res.AK != stsCred.AccessKeyID || res.Token != stsCred.SecurityToken {
				t.Fatal("the handler did not get the invocation's credentials")
			}
			to := tc.timeout
			if to == 0 {
				to = time.Minute
			}
			if dl := time.UnixMilli(res.DeadlineMS); dl.Before(starts[i].Add(to).Add(-time.Second)) || dl.After(time.Now().Add(to)) {
				t.Fatalf("ctx deadline %v, want about start+%v", dl, to)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
	if calls := srv.Calls(); len(calls) != 1 || calls[0].Action != "DescribeSecret" || calls[0].SecurityToken != stsCred.SecurityToken {
		t.Fatalf("want the function's one DescribeSecret, got %d calls", len(calls))
	}
	if srv.Polls() < len(tests)+1 {
		t.Fatalf("polls: %d", srv.Polls())
	}
}
