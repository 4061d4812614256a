package emulator_test

import (
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/sae"

	"github.com/sae-secret-rotator/rotator/emulator"
)

func TestQuota(t *testing.T) {
	const window = 400 * time.Millisecond
	srv := startServer(t, emulator.Options{Quota: 3, QuotaWindow: window, Credentials: []emulator.Credential{emulator.DefaultCredential, stsCred}})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	srv.AddInstance(emulator.Instance{ID: "cri-test"})
	ak, sts := saeClient(t, emulator.DefaultCredential), saeClient(t, stsCred)

	t0 := time.Now()
	// Three calls from two credentials of one account fill the quota; ACR calls do not count.
	for i, c := range []*sae.Client{ak, sts, ak} {
		if _, err := describe(srv, c, nsProd, id); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if _, err := getToken(srv, crClient(t, emulator.DefaultCredential), "cri-test"); err != nil {
			t.Fatalf("cr call %d: %v", i, err)
		}
	}
	time.Sleep(window / 2)
	for _, c := range []*sae.Client{ak, sts} {
		_, err := list(srv, c, nsProd)
		serverError(t, err, "Throttling.User", 400)
		var se *sdkerrors.ServerError
		errors.As(err, &se)
		if se.Message() != "Request was denied due to user flow control." {
			t.Fatalf("message %q", se.Message())
		}
	}
	_, err := update(srv, ak, nsProd, id, wrapped(dockerData("x", "y")))
	serverError(t, err, "Throttling.User", 400)
	if sec, _ := srv.Secret(nsProd, id); sec.Data[".dockerconfigjson"] == dockerData("x", "y")[".dockerconfigjson"] {
		t.Fatal("a throttled update was stored")
	}
	// Once the admitted calls leave the window the quota is free again:
	// throttled calls (made later) did not count.
	time.Sleep(time.Until(t0.Add(window + 50*time.Millisecond)))
	if _, err := describe(srv, ak, nsProd, id); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	throttledCalls := 0
	for _, c := range srv.Calls() {
		if c.Code == "Throttling.User" {
			throttledCalls++
			if c.Status != 400 || c.Product != "sae" {
				t.Fatalf("throttled call recorded as %d %s", c.Status, c.Product)
			}
		}
	}
	if throttledCalls != 3 {
		t.Fatalf("want 3 throttled calls recorded, got %d", throttledCalls)
	}
}

func TestQuotaDisabled(t *testing.T) {
	srv := startServer(t, emulator.Options{Quota: -1})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	c := saeClient(t, emulator.DefaultCredential)
	for i := 0; i < 80; i++ {
		if _, err := describe(srv, c, nsProd, id); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	srv.SetQuota(2, time.Hour)
	for i := 0; i < 2; i++ {
		if _, err := describe(srv, c, nsProd, id); err != nil {
			t.Fatalf("call %d after SetQuota: %v", i, err)
		}
	}
	_, err := describe(srv, c, nsProd, id)
	serverError(t, err, "Throttling.User", 400)
}

func TestDefaultQuota(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	c := saeClient(t, emulator.DefaultCredential)
	for i := 0; i < 60; i++ {
		if _, err := describe(srv, c, nsProd, id); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := describe(srv, c, nsProd, id)
	serverError(t, err, "Throttling.User", 400)
}

// TestCountedFaults covers Throttle and Fail on actions and products.
func TestCountedFaults(t *testing.T) {
	type step struct {
		call   string // "describe", "list", "update", "token", "endpoints"
		code   string
		status int
	}
	tests := []struct {
		name   string
		faults map[string]emulator.Fault
		steps  []step
	}{
		{"throttle an action", map[string]emulator.Fault{"DescribeSecret": {Throttle: 2}}, []step{
			{"describe", "Throttling.User", 400}, {"list", "", 200}, {"describe", "Throttling.User", 400}, {"describe", "", 200},
		}},
		{"fail an action with the default status", map[string]emulator.Fault{"UpdateSecret": {Fail: 1}}, []step{
			{"describe", "", 200}, {"update", "OperationFailed.RPCError", 500}, {"update", "", 200},
		}},
		{"fail the sae product with 503", map[string]emulator.Fault{"sae": {Fail: 2, FailStatus: 503}}, []step{
			{"list", "ServiceUnavailable", 503}, {"token", "", 200}, {"describe", "ServiceUnavailable", 503}, {"describe", "", 200},
		}},
		{"fail cr", map[string]emulator.Fault{"cr": {Fail: 1}, "ListInstanceEndpoint": {Fail: 1, FailStatus: 503}}, []step{
			{"describe", "", 200}, {"token", "InternalError", 500}, {"endpoints", "InternalError", 503}, {"endpoints", "", 200}, {"token", "", 200},
		}},
		{"throttle cr", map[string]emulator.Fault{"GetAuthorizationToken": {Throttle: 1}}, []step{
			{"token", "Throttling.User", 400}, {"token", "", 200},
		}},
		{"throttle before fail", map[string]emulator.Fault{"DescribeSecret": {Throttle: 1, Fail: 1}}, []step{
			{"describe", "Throttling.User", 400}, {"describe", "OperationFailed.RPCError", 500}, {"describe", "", 200},
		}},
		{"action and product faults add up", map[string]emulator.Fault{"DescribeSecret": {Throttle: 1}, "sae": {Throttle: 1}}, []step{
			{"describe", "Throttling.User", 400}, {"describe", "Throttling.User", 400}, {"describe", "", 200},
		}},
		{"zero fault removes", map[string]emulator.Fault{"DescribeSecret": {}}, []step{
			{"describe", "", 200},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, emulator.Options{})
			id := seedSecret(t, srv, nsProd, "acr-pull")
			srv.AddInstance(emulator.Instance{ID: "cri-test"})
			before, _ := srv.Secret(nsProd, id)
			sc, cc := saeClient(t, emulator.DefaultCredential), crClient(t, emulator.DefaultCredential)
			for k, f := range tc.faults {
				srv.SetFault(k, f)
			}
			for i, st := range tc.steps {
				var err error
				switch st.call {
				case "describe":
					_, err = describe(srv, sc, nsProd, id)
				case "list":
					_, err = list(srv, sc, nsProd)
				case "update":
					_, err = update(srv, sc, nsProd, id, wrapped(before.Data))
				case "token":
					_, err = getToken(srv, cc, "cri-test")
				case "endpoints":
					_, err = listEndpoints(srv, cc, "cri-test")
				}
				if st.code == "" {
					if err != nil {
						t.Fatalf("step %d (%s): %v", i, st.call, err)
					}
					continue
				}
				serverError(t, err, st.code, st.status)
			}
			calls := srv.Calls()
			if len(calls) != len(tc.steps) {
				t.Fatalf("want %d calls, got %d", len(tc.steps), len(calls))
			}
			for i, st := range tc.steps {
				if calls[i].Code != st.code || calls[i].Status != st.status {
					t.Fatalf("call %d recorded %d %q", i, calls[i].Status, calls[i].Code)
				}
			}
		})
	}
}

func TestLatency(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	srv.AddInstance(emulator.Instance{ID: "cri-test"})
	const d = 150 * time.Millisecond
	srv.SetFault("DescribeSecret", emulator.Fault{Latency: d})
	srv.SetFault("cr", emulator.Fault{Latency: d})
	sc, cc := saeClient(t, emulator.DefaultCredential), crClient(t, emulator.DefaultCredential)
	tests := []struct {
		name string
		call func() error
		slow bool
	}{
		{"describe", func() error { _, err := describe(srv, sc, nsProd, id); return err }, true},
		{"list", func() error { _, err := list(srv, sc, nsProd); return err }, false},
		{"token", func() error { _, err := getToken(srv, cc, "cri-test"); return err }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if tc.slow && took < d {
				t.Fatalf("took %v, want at least %v", took, d)
			}
			if !tc.slow && took >= d {
				t.Fatalf("took %v without latency", took)
			}
		})
	}
}

func TestHang(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	before, _ := srv.Secret(nsProd, id)
	srv.SetFault("UpdateSecret", emulator.Fault{Hang: true})
	c := saeClient(t, emulator.DefaultCredential)

	req := sae.CreateUpdateSecretRequest()
	roa(srv, req.RoaRequest)
	req.NamespaceId, req.SecretId, req.SecretData = nsProd, itoaInteger(id), wrapped(dockerData("n", "p"))
	req.SetReadTimeout(200 * time.Millisecond)
	start := time.Now()
	_, err := c.UpdateSecret(req)
	var se *sdkerrors.ServerError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("want a client timeout, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the client timeout did not end the hung call")
	}
	if sec, _ := srv.Secret(nsProd, id); !maps.Equal(sec.Data, before.Data) {
		t.Fatal("a hung update was stored")
	}
	if _, err := describe(srv, c, nsProd, id); err != nil {
		t.Fatalf("other actions must not hang: %v", err)
	}
	calls := srv.Calls()
	if calls[0].Action != "UpdateSecret" || calls[0].Status != 0 {
		t.Fatalf("hung call recorded as %s %d", calls[0].Action, calls[0].Status)
	}
	srv.ClearFaults()
	if len(srv.Faults()) != 0 {
		t.Fatal("ClearFaults left faults")
	}
	if _, err := update(srv, c, nsProd, id, wrapped(dockerData("n", "p"))); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestCloseEndsHang(t *testing.T) {
	srv, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := seedSecret(t, srv, nsProd, "acr-pull")
	srv.SetFault("sae", emulator.Fault{Hang: true})
	c := saeClient(t, emulator.DefaultCredential)
	done := make(chan error, 1)
	go func() {
		_, err := describe(srv, c, nsProd, id)
		done <- err
	}()
	for len(srv.Calls()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a hung call got an answer on Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client still waits after Close")
	}
	_ = srv.Close() // idempotent
}

func TestDropWrites(t *testing.T) {
	for _, key := range []string{"UpdateSecret", "sae"} {
		t.Run(key, func(t *testing.T) {
			srv := startServer(t, emulator.Options{})
			id := seedSecret(t, srv, nsProd, "acr-pull")
			before, _ := srv.Secret(nsProd, id)
			srv.SetFault(key, emulator.Fault{DropWrites: 1})
			c := saeClient(t, emulator.DefaultCredential)
			first, second := dockerData("first", "p"), dockerData("second", "p")
			resp, err := update(srv, c, nsProd, id, wrapped(first))
			if err != nil || !resp.Success || resp.Data.SecretId != id {
				t.Fatalf("dropped write must answer success: %v", err)
			}
			if sec, _ := srv.Secret(nsProd, id); !maps.Equal(sec.Data, before.Data) || sec.UpdateTime != before.UpdateTime {
				t.Fatal("the dropped write was stored")
			}
			d, _ := describe(srv, c, nsProd, id)
			if d.Data.SecretData[".dockerconfigjson"] != before.Data[".dockerconfigjson"] {
				t.Fatal("a read shows the dropped write")
			}
			if _, err := update(srv, c, nsProd, id, wrapped(second)); err != nil {
				t.Fatal(err)
			}
			if sec, _ := srv.Secret(nsProd, id); !maps.Equal(sec.Data, second) {
				t.Fatal("the next write was not stored")
			}
		})
	}
}

func TestLagReads(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		reads []string // "describe" or "list"
		stale []bool   // which reads still show the old data
	}{
		{"describe", "DescribeSecret", []string{"describe", "describe", "describe", "describe"}, []bool{true, true, false, false}},
		{"list", "ListSecrets", []string{"list", "list", "list"}, []bool{true, true, false}},
		{"product covers both", "sae", []string{"list", "describe", "describe"}, []bool{true, true, false}},
		{"describe lag does not affect list", "DescribeSecret", []string{"list", "describe", "list", "describe", "describe"}, []bool{false, true, false, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, emulator.Options{})
			id := seedSecret(t, srv, nsProd, "acr-pull")
			before, _ := srv.Secret(nsProd, id)
			srv.SetFault(tc.key, emulator.Fault{LagReads: 2})
			c := saeClient(t, emulator.DefaultCredential)
			fresh := dockerData("fresh", "p")
			if _, err := update(srv, c, nsProd, id, wrapped(fresh)); err != nil {
				t.Fatal(err)
			}
			if sec, _ := srv.Secret(nsProd, id); !maps.Equal(sec.Data, fresh) {
				t.Fatal("Secret must show the stored state, without lag")
			}
			for i, r := range tc.reads {
				var got any
				var upd int64
				if r == "describe" {
					d, err := describe(srv, c, nsProd, id)
					if err != nil {
						t.Fatal(err)
					}
					got, upd = d.Data.SecretData[".dockerconfigjson"], d.Data.UpdateTime
				} else {
					l, err := list(srv, c, nsProd)
					if err != nil {
						t.Fatal(err)
					}
					// ListSecrets answers no data (the reference): its UpdateTime lags.
					got, upd = before.Data[".dockerconfigjson"], l.Data.Secrets[0].UpdateTime
					if upd != before.UpdateTime {
						got = nil
					}
				}
				isStale := got == before.Data[".dockerconfigjson"]
				if isStale && upd != before.UpdateTime {
					t.Fatalf("read %d: stale data with a new UpdateTime", i)
				}
				if isStale != tc.stale[i] {
					t.Fatalf("read %d (%s): stale=%v, want %v", i, r, isStale, tc.stale[i])
				}
			}
		})
	}
}

func TestForeignEditEndsLag(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	id := seedSecret(t, srv, nsProd, "acr-pull")
	srv.SetFault("DescribeSecret", emulator.Fault{LagReads: 5})
	c := saeClient(t, emulator.DefaultCredential)
	if _, err := update(srv, c, nsProd, id, wrapped(dockerData("fresh", "p"))); err != nil {
		t.Fatal(err)
	}
	foreign := map[string]string{"foreign": "edit"}
	if err := srv.SetSecretData(nsProd, id, foreign); err != nil {
		t.Fatal(err)
	}
	d, err := describe(srv, c, nsProd, id)
	if err != nil || d.Data.SecretData["foreign"] != "edit" {
		t.Fatalf("the foreign edit is not visible: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := startServer(t, emulator.Options{Quota: -1, Logf: func(string, ...any) {}})
	srv.AddInstance(emulator.Instance{ID: "cri-test"})
	const workers, each = 8, 10
	ids := make([]int64, workers)
	for i := range ids {
		ids[i] = seedSecret(t, srv, nsProd, "s"+itoa(int64(i)))
	}
	srv.SetFault("DescribeSecret", emulator.Fault{LagReads: 1})
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sc, cc := saeClient(t, emulator.DefaultCredential), crClient(t, emulator.DefaultCredential)
			for i := 0; i < each; i++ {
				if _, err := update(srv, sc, nsProd, ids[(w+i)%workers], wrapped(dockerData("u", itoa(int64(i))))); err != nil {
					errs <- err
				}
				if _, err := describe(srv, sc, nsProd, ids[w]); err != nil {
					errs <- err
				}
				if _, err := getToken(srv, cc, "cri-test"); err != nil {
					errs <- err
				}
				_ = srv.Calls()
				_, _ = srv.Secret(nsProd, ids[w])
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(srv.Calls()); n != workers*each*3 {
		t.Fatalf("want %d calls, got %d", workers*each*3, n)
	}
	if n := len(srv.Tokens()); n != workers*each {
		t.Fatalf("want %d tokens, got %d", workers*each, n)
	}
}
