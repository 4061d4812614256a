package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// The runtime API driven with plain HTTP, the way fc-runtime-go-sdk v0.2.0's
// runtimeAPIClient does it (fc/runtime_api_client.go).

func runtimeBase(srv *emulator.Server) string {
	return "http://" + srv.RuntimeAPI() + "/2020-11-11/runtime/invocation/"
}

type delivered struct {
	id      string
	payload []byte
	header  http.Header
}

func poll(ctx context.Context, srv *emulator.Server) (delivered, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, runtimeBase(srv)+"next", nil)
	req.Header.Set("User-Agent", "aliyun-fc-go/test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return delivered{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return delivered{}, errors.New("next answered " + resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	return delivered{resp.Header.Get("x-fc-request-id"), b, resp.Header}, err
}

func post(srv *emulator.Server, id, kind string, payload []byte) int {
	req, _ := http.NewRequest(http.MethodPost, runtimeBase(srv)+id+"/"+kind, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

type invokeResult struct {
	res emulator.InvocationResult
	err error
}

func invokeAsync(ctx context.Context, srv *emulator.Server, inv emulator.Invocation) <-chan invokeResult {
	ch := make(chan invokeResult, 1)
	go func() {
		res, err := srv.Invoke(ctx, inv)
		ch <- invokeResult{res, err}
	}()
	return ch
}

func TestRuntimeAPIOneInvocation(t *testing.T) {
	srv := startServer(t, emulator.Options{Region: "cn-beijing", AccountID: "1111", FunctionName: "rot"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if srv.Polls() != 0 {
		t.Fatal("polls before any poll")
	}
	waited := make(chan error, 1)
	go func() { waited <- srv.WaitPoll(ctx) }()
	select {
	case <-waited:
		t.Fatal("WaitPoll returned before a poll")
	case <-time.After(50 * time.Millisecond):
	}

	tests := []struct {
		name    string
		kind    string // response | error
		timeout time.Duration
		wantTO  string
	}{
		{"response", "response", 0, "60"},
		{"error", "error", 90 * time.Second, "90"},
		{"sub-second timeout", "response", 1500 * time.Millisecond, "2"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			polled := make(chan delivered, 1)
			go func() {
				d, err := poll(ctx, srv)
				if err != nil {
					t.Errorf("poll: %v", err)
				}
				polled <- d
			}()
			if err := srv.WaitPoll(ctx); err != nil {
				t.Fatal(err)
			}
			inv := emulator.Invocation{
				Payload: []byte(`{"action":"rotate"}`), Timeout: tc.timeout, Credentials: stsCred, RetryCount: i,
			}
			start := time.Now()
			result := invokeAsync(ctx, srv, inv)
			d := <-polled
			if d.id == "" || string(d.payload) != `{"action":"rotate"}` {
				t.Fatalf("delivered id %q payload %q", d.id, d.payload)
			}
			want := map[string]string{
				"x-fc-access-key-id": stsCred.AccessKeyID, "x-fc-access-key-secret": stsCred.AccessKeySecret,
				"x-fc-security-token": stsCred.SecurityToken, "x-fc-function-handler": "main", "x-fc-function-name": "rot",
				"x-fc-region": "cn-beijing", "x-fc-account-id": "1111", "x-fc-function-memory": "512",
				"x-fc-function-timeout": tc.wantTO, "x-fc-retry-count": strconv.Itoa(i),
			}
			for k, v := range want {
				if got := d.header.Get(k); got != v {
					t.Errorf("header %s: got %q want %q", k, got, v)
				}
			}
			to := tc.timeout
			if to == 0 {
				to = time.Minute
			}
			ms, err := strconv.ParseInt(d.header.Get("x-fc-function-deadline"), 10, 64)
			deadline := time.UnixMilli(ms)
			if err != nil || deadline.Before(start.Add(to).Add(-time.Second)) || deadline.After(time.Now().Add(to).Add(time.Second)) {
				t.Fatalf("deadline %v, want about now+%v", deadline, to)
			}
			if srv.InFlight() != 1 {
				t.Fatalf("in flight: %d", srv.InFlight())
			}
			if code := post(srv, d.id, tc.kind, []byte(`{"ok":true}`)); code != 200 {
				t.Fatalf("post answered %d", code)
			}
			r := <-result
			if r.err != nil || r.res.RequestID != d.id || string(r.res.Payload) != `{"ok":true}` || r.res.Failed != (tc.kind == "error") {
				t.Fatalf("Invoke: %+v %v", r.res, r.err)
			}
			if code := post(srv, d.id, tc.kind, nil); code != 404 {
				t.Fatalf("second post answered %d", code)
			}
		})
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if srv.Polls() != len(tests) {
		t.Fatalf("polls: %d", srv.Polls())
	}
	if len(srv.Calls()) != 0 {
		t.Fatal("runtime API calls were recorded")
	}
}

func TestRuntimeAPIConcurrentInvocations(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 4
	results := make([]<-chan invokeResult, n)
	for i := range results {
		results[i] = invokeAsync(ctx, srv, emulator.Invocation{RequestID: "req-" + strconv.Itoa(i), Payload: []byte(strconv.Itoa(i))})
	}
	// Like the SDK: poll again straight away, answer each later, in any order.
	var got []delivered
	for i := 0; i < n; i++ {
		d, err := poll(ctx, srv)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	for i := n - 1; i >= 0; i-- {
		if code := post(srv, got[i].id, "response", append([]byte("answer-"), got[i].payload...)); code != 200 {
			t.Fatalf("post %s: %d", got[i].id, code)
		}
	}
	for i, ch := range results {
		r := <-ch
		if r.err != nil || r.res.RequestID != "req-"+strconv.Itoa(i) || string(r.res.Payload) != "answer-"+strconv.Itoa(i) {
			t.Fatalf("invocation %d: %+v %v", i, r.res, r.err)
		}
	}
	if srv.InFlight() != 0 {
		t.Fatalf("in flight after all answers: %d", srv.InFlight())
	}
}

func TestRuntimeAPICancellation(t *testing.T) {
	srv := startServer(t, emulator.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// An invocation given up before any poll is not delivered later.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := srv.Invoke(short, emulator.Invocation{RequestID: "gone"})
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke: %v", err)
	}
	pollCtx, cancelPoll := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = poll(pollCtx, srv)
	cancelPoll()
	if err == nil {
		t.Fatal("a poll got an abandoned invocation")
	}

	// A poll that went away does not swallow the next invocation.
	for srv.Pollers() != 0 {
		time.Sleep(time.Millisecond)
	}
	result := invokeAsync(ctx, srv, emulator.Invocation{RequestID: "kept", Payload: []byte("{}")})
	d, err := poll(ctx, srv)
	if err != nil || d.id != "kept" {
		t.Fatalf("poll: %q %v", d.id, err)
	}
	// Duplicate request IDs in flight are refused.
	if _, err := srv.Invoke(ctx, emulator.Invocation{RequestID: "kept"}); err == nil {
		t.Fatal("duplicate request id accepted")
	}
	post(srv, "kept", "response", []byte("done"))
	if r := <-result; r.err != nil || string(r.res.Payload) != "done" {
		t.Fatalf("Invoke: %+v %v", r.res, r.err)
	}
	if code := post(srv, "never-queued", "response", nil); code != 404 {
		t.Fatalf("unknown id answered %d", code)
	}
	if resp, err := http.Get("http://" + srv.RuntimeAPI() + "/2020-11-11/runtime/unknown"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown route: %v", err)
	}

	// An invocation abandoned after delivery still accepts the function's answer.
	abandon, cancelAbandon := context.WithCancel(ctx)
	result = invokeAsync(abandon, srv, emulator.Invocation{RequestID: "late"})
	if d, err = poll(ctx, srv); err != nil || d.id != "late" {
		t.Fatalf("poll: %v", err)
	}
	cancelAbandon()
	if r := <-result; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("abandoned Invoke: %v", r.err)
	}
	if code := post(srv, "late", "response", nil); code != 200 {
		t.Fatalf("late answer: %d", code)
	}
}

func TestRuntimeAPIClose(t *testing.T) {
	srv, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pending := invokeAsync(ctx, srv, emulator.Invocation{})
	polled := make(chan error, 1)
	go func() {
		d, err := poll(ctx, srv)
		if err == nil {
			// the poll took the pending invocation; poll again to block
			_ = d
			_, err = poll(ctx, srv)
		}
		polled <- err
	}()
	for srv.Polls() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Close waited for pollers")
	}
	if r := <-pending; !errors.Is(r.err, emulator.ErrClosed) {
		t.Fatalf("pending Invoke: %v", r.err)
	}
	if err := <-polled; err == nil {
		t.Fatal("a blocked poll got an answer on Close")
	}
	if _, err := srv.Invoke(ctx, emulator.Invocation{}); !errors.Is(err, emulator.ErrClosed) {
		t.Fatalf("Invoke after Close: %v", err)
	}
	if err := srv.WaitPoll(ctx); err != nil {
		t.Fatalf("WaitPoll after polls: %v", err)
	}
}

func TestInvocationResultOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  emulator.InvocationResult
		want string
		err  bool
	}{
		{"result", emulator.InvocationResult{Payload: []byte(`{"rotated":1}`)}, `{"rotated":1}`, false},
		{"error", emulator.InvocationResult{Failed: true, Payload: []byte(`{"errorMessage":"{\"failed\":1}","errorType":"RotationFailed"}`)}, `{"failed":1}`, false},
		{"error without message", emulator.InvocationResult{Failed: true, Payload: []byte(`{"errorType":"X"}`)}, "", true},
		{"error not JSON", emulator.InvocationResult{Failed: true, Payload: []byte(`oops`)}, "", true},
	} {
		got, err := tc.res.Output()
		if (err != nil) != tc.err || string(got) != tc.want {
			t.Errorf("%s: Output() = %q, %v", tc.name, got, err)
		}
	}
}
