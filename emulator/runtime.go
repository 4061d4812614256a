package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Function Compute runtime API (version 2020-11-11) as
// github.com/aliyun/fc-runtime-go-sdk v0.2.0 polls it:
//
//	GET  /2020-11-11/runtime/invocation/next           blocks until an invocation is queued
//	POST /2020-11-11/runtime/invocation/{id}/response  the handler's result
//	POST /2020-11-11/runtime/invocation/{id}/error     the handler's error
//
// Runtime API calls are not recorded in Calls and no faults apply to them.

const invocationPrefix = runtimePrefix + "invocation/"

// Invocation is one event for the function.
type Invocation struct {
	RequestID   string        // generated when empty
	Payload     []byte        // the event
	Timeout     time.Duration // function timeout; deadline = now (at delivery) + Timeout; 0 means 60s
	Credentials Credential    // sent as x-fc-access-key-id / -secret / x-fc-security-token
	RetryCount  int           // x-fc-retry-count (async retries)
	Headers     map[string]string
	// Headers are added to (or override) the x-fc-* headers of the delivery.
}

// InvocationResult is what the function posted for an invocation.
type InvocationResult struct {
	RequestID string
	Payload   []byte
	Failed    bool // true when posted to /error
}

// Output is what the function answered: the result, or for a failed
// invocation the message of the runtime's error JSON
// ({"errorMessage","errorType",...}, as fc-runtime-go-sdk posts it).
func (r InvocationResult) Output() ([]byte, error) {
	if !r.Failed {
		return r.Payload, nil
	}
	var e struct {
		Message *string `json:"errorMessage"`
	}
	if err := json.Unmarshal(r.Payload, &e); err != nil || e.Message == nil {
		return nil, errors.New("the error posted is not the runtime's error JSON")
	}
	return []byte(*e.Message), nil
}

type pendingInvocation struct {
	inv       Invocation
	done      chan InvocationResult // buffered: the poster never blocks
	abandoned chan struct{}         // closed when Invoke gives up
}

// Invoke queues an invocation for the next poll of the runtime API and waits
// until the function posts its response or error, ctx ends (ctx.Err()), or
// the server closes (ErrClosed). An invocation abandoned after delivery may
// still be answered by the function; the answer is accepted and dropped.
func (s *Server) Invoke(ctx context.Context, inv Invocation) (InvocationResult, error) {
	if inv.RequestID == "" {
		inv.RequestID = newRequestID()
	}
	if inv.Timeout <= 0 {
		inv.Timeout = 60 * time.Second
	}
	inv.Payload = append([]byte(nil), inv.Payload...)
	p := &pendingInvocation{inv: inv, done: make(chan InvocationResult, 1), abandoned: make(chan struct{})}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return InvocationResult{}, ErrClosed
	}
	if _, dup := s.inflight[inv.RequestID]; dup {
		s.mu.Unlock()
		return InvocationResult{}, fmt.Errorf("emulator: invocation %s is already in flight", inv.RequestID)
	}
	s.inflight[inv.RequestID] = p
	s.mu.Unlock()

	forget := func() {
		s.mu.Lock()
		if s.inflight[inv.RequestID] == p {
			delete(s.inflight, inv.RequestID)
		}
		s.mu.Unlock()
	}
	select {
	case s.invq <- p:
	case <-ctx.Done():
		close(p.abandoned)
		forget()
		return InvocationResult{}, ctx.Err()
	case <-s.closing:
		close(p.abandoned)
		forget()
		return InvocationResult{}, ErrClosed
	}
	select {
	case res := <-p.done:
		return res, nil
	case <-ctx.Done():
		close(p.abandoned)
		return InvocationResult{}, ctx.Err()
	case <-s.closing:
		close(p.abandoned)
		return InvocationResult{}, ErrClosed
	}
}

// Polls is how many GET .../invocation/next arrived so far.
func (s *Server) Polls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// WaitPoll returns once at least one poll has arrived (for cold-start timing),
// or with ctx.Err() / ErrClosed.
func (s *Server) WaitPoll(ctx context.Context) error {
	select {
	case <-s.firstPoll:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		select {
		case <-s.firstPoll:
			return nil
		default:
			return ErrClosed
		}
	}
}

// InFlight is how many invocations were queued or delivered and not yet answered.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}

func (s *Server) serveRuntime(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, invocationPrefix)
	switch {
	case ok && rest == "next" && r.Method == http.MethodGet:
		s.serveNext(w, r)
	case ok && r.Method == http.MethodPost && strings.HasSuffix(rest, "/response"):
		s.servePost(w, r, strings.TrimSuffix(rest, "/response"), false)
	case ok && r.Method == http.MethodPost && strings.HasSuffix(rest, "/error"):
		s.servePost(w, r, strings.TrimSuffix(rest, "/error"), true)
	default:
		runtimeError(w, http.StatusNotFound, "no such runtime API route")
	}
}

func runtimeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"errorMessage":%q}`, msg)
}

func (s *Server) serveNext(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.polls++
	s.mu.Unlock()
	s.firstPollOnce.Do(func() { close(s.firstPoll) })

	var p *pendingInvocation
	s.setWaiting(+1)
	select {
	case p = <-s.invq:
		s.setWaiting(-1)
	case <-r.Context().Done():
		s.setWaiting(-1)
		return
	case <-s.closing:
		s.setWaiting(-1)
		panic(http.ErrAbortHandler)
	}
	if r.Context().Err() != nil {
		// The poller went away while the invocation was handed over.
		s.requeue(p)
		return
	}
	inv := p.inv
	deadline := time.Now().Add(inv.Timeout)
	h := w.Header()
	set := h.Set
	set("Content-Type", "application/octet-stream")
	set("x-fc-request-id", inv.RequestID)
	set("x-fc-function-deadline", strconv.FormatInt(deadline.UnixMilli(), 10))
	set("x-fc-function-timeout", strconv.Itoa(int(math.Ceil(inv.Timeout.Seconds()))))
	set("x-fc-access-key-id", inv.Credentials.AccessKeyID)
	set("x-fc-access-key-secret", inv.Credentials.AccessKeySecret)
	set("x-fc-security-token", inv.Credentials.SecurityToken)
	set("x-fc-function-name", s.opts.FunctionName)
	set("x-fc-function-handler", "main")
	set("x-fc-function-memory", s.opts.MemoryMB)
	set("x-fc-region", s.opts.Region)
	set("x-fc-account-id", s.opts.AccountID)
	set("x-fc-qualifier", "LATEST")
	set("x-fc-retry-count", strconv.Itoa(inv.RetryCount))
	for k, v := range inv.Headers {
		set(k, v)
	}
	set("Content-Length", strconv.Itoa(len(inv.Payload)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(inv.Payload)
	if err == nil {
		err = http.NewResponseController(w).Flush()
	}
	if err != nil {
		s.requeue(p)
	}
}

// requeue offers an invocation that did not reach its poller to the next poll.
// (A poller that vanished without the server noticing yet can still swallow
// an invocation; see Pollers.)
func (s *Server) requeue(p *pendingInvocation) {
	go func() {
		select {
		case s.invq <- p:
		case <-p.abandoned:
		case <-s.closing:
		}
	}()
}

func (s *Server) setWaiting(delta int) {
	s.mu.Lock()
	s.waiting += delta
	s.mu.Unlock()
}

// Pollers is how many polls (GET .../invocation/next) are waiting for an
// invocation right now. After stopping a function process, wait for it to
// drop before invoking: a poll whose client is gone but that the server has
// not yet noticed could otherwise take the invocation and lose it.
func (s *Server) Pollers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

func (s *Server) servePost(w http.ResponseWriter, r *http.Request, id string, failed bool) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	s.mu.Lock()
	p := s.inflight[id]
	if p != nil {
		delete(s.inflight, id)
	}
	s.mu.Unlock()
	if p == nil {
		runtimeError(w, http.StatusNotFound, "unknown or already answered invocation")
		return
	}
	p.done <- InvocationResult{RequestID: id, Payload: payload, Failed: failed}
	w.WriteHeader(http.StatusOK)
}
