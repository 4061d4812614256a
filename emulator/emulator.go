// Package emulator is a local, in-memory emulator of every cloud API the
// credential-rotator function calls, and of the FC runtime that runs it:
//
//   - SAE secrets (product sae, version 2019-05-06, ROA style): DescribeSecret,
//     UpdateSecret, ListSecrets, CreateSecret under /pop/v1/sam/secret/...,
//     answered as the current API reference documents them (ListSecrets
//     without SecretData; SetListSecretsData for the older shape);
//   - ACR Enterprise Edition (product cr, version 2018-12-01, RPC style):
//     GetAuthorizationToken, ListInstanceEndpoint;
//   - ACR Personal Edition (product cr, version 2016-06-07, ROA style):
//     GetAuthorizationToken (GET /tokens; personal.go);
//   - STS (version 2015-04-01, RPC style): AssumeRole of roles added with
//     AddRole (sts.go);
//   - KMS Secrets Manager (product kms, version 2016-01-20, RPC style):
//     GetSecretValue, PutSecretValue (kms.go);
//   - Huawei Cloud CSMS (API v1, through the KMS endpoint):
//     ShowSecretVersion, CreateSecretVersion, signed SDK-HMAC-SHA256
//     (csms.go, huaweiauth.go);
//   - Tencent Cloud SSM (version 2019-09-23, API 3.0): GetSecretValue,
//     UpdateSecret, signed TC3-HMAC-SHA256 (ssm.go, tc3.go);
//   - the registry of the ACR instances (/v2/...): CNCF Distribution itself,
//     as a library, behind the emulator's token service (/service/token),
//     which grants a credential what RAM lets its minter do (Grant; ram.go,
//     registry.go, token.go);
//   - the Function Compute runtime API (/2020-11-11/runtime/invocation/...)
//     as polled by github.com/aliyun/fc-runtime-go-sdk (runtime.go).
//
// One HTTP server on 127.0.0.1 serves them all. It speaks the real wire
// protocols, so the real SDK clients can be pointed at it: every cloud
// request must carry a valid signature of its cloud (Alibaba's ROA
// Authorization header or RPC Signature parameter, Huawei's and Tencent's
// Authorization headers) made with a registered credential.
//
// Tests can inject faults per action or per product (SetFault), watch every
// call (Calls), read the stored state directly (Secret), edit it behind the
// function's back (SetSecretData) and doctor answers (SetAnswerEdit). Every
// store refuses a value over its documented size limit with its own error.
// The records the emulator keeps and hands out are in records.go.
package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Credential is an access key the emulator accepts as a signer. A credential
// registered with a SecurityToken (STS) must present exactly that token.
// From Expires on (when set) it is refused with InvalidSecurityToken.Expired,
// and the registry tokens it mints expire no later.
type Credential struct {
	AccessKeyID, AccessKeySecret, SecurityToken string
	Expires                                     time.Time
}

// DefaultCredential is accepted when Options.Credentials is empty.
var DefaultCredential = Credential{AccessKeyID: "LTAIemulatorKey", AccessKeySecret: "emulator-secret-not-real"}

// Options configure Start.
type Options struct {
	Addr        string        // where to listen, e.g. "127.0.0.1:18080"; empty means 127.0.0.1 on a free port
	Credentials []Credential  // accepted signers; empty means []Credential{DefaultCredential}
	Quota       int           // SAE calls per QuotaWindow per account; 0 means 60; negative disables the quota
	QuotaWindow time.Duration // 0 means time.Minute (tests and benchmarks scale it down)

	Logf func(format string, args ...any) // optional; never logs secret data or signatures

	// Function metadata sent with every invocation by the FC runtime API
	// (x-fc-function-name, x-fc-region, x-fc-account-id, x-fc-function-memory).
	// Defaults: "secret-rotator", "cn-hangzhou", "1234567890123456", "512".
	FunctionName, Region, AccountID, MemoryMB string
}

// ErrClosed is returned by Invoke (and other calls that wait) once the server is closed.
var ErrClosed = errors.New("emulator: server closed")

type secretState struct {
	cur             Secret
	prev            *Secret // state before the latest stored UpdateSecret (LagReads)
	readsSinceWrite int
}

// Server is a running emulator. All methods are safe for concurrent use.
type Server struct {
	opts   Options
	ln     net.Listener
	srv    *http.Server
	port   string
	quota  int
	window time.Duration

	mu         sync.Mutex
	closed     bool
	creds      map[string]Credential
	namespaces map[string]bool
	secrets    map[int64]*secretState
	nextID     int64
	instances  map[string]Instance
	tokens     []Token
	faults     map[string]*Fault
	calls      []*Call
	admitted   []time.Time // quota: times of admitted SAE calls inside the window
	nonces     map[string]time.Time
	registry   registryState // registry.go
	grants     []ramGrant    // ram.go
	sts        stsState      // sts.go

	listData bool                            // ListSecrets answers SecretData (SetListSecretsData)
	edits    map[string]func(map[string]any) // answers.go: SetAnswerEdit, by product + " " + action

	kms     map[string]*kmsSecret // kms.go: KMS secrets by region/name
	kmsEcho bool                  // kms.go: SetKMSEcho
	csms    csmsState             // csms.go
	ssm     ssmState              // ssm.go

	closing   chan struct{}
	handlers  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// FC runtime API
	invq          chan *pendingInvocation
	inflight      map[string]*pendingInvocation
	polls         int
	waiting       int // polls blocked waiting for an invocation
	firstPoll     chan struct{}
	firstPollOnce sync.Once
}

// Start listens on opts.Addr (default: 127.0.0.1 on a free port) and
// serves the emulated APIs until Close.
func Start(opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := &Server{
		opts:       opts,
		ln:         ln,
		port:       port,
		quota:      opts.Quota,
		window:     opts.QuotaWindow,
		creds:      map[string]Credential{},
		namespaces: map[string]bool{},
		secrets:    map[int64]*secretState{},
		nextID:     1,
		instances:  map[string]Instance{},
		faults:     map[string]*Fault{},
		nonces:     map[string]time.Time{},
		closing:    make(chan struct{}),
		invq:       make(chan *pendingInvocation),
		inflight:   map[string]*pendingInvocation{},
		firstPoll:  make(chan struct{}),
	}
	if s.quota == 0 {
		s.quota = 60
	}
	if s.window <= 0 {
		s.window = time.Minute
	}
	if s.opts.FunctionName == "" {
		s.opts.FunctionName = "secret-rotator"
	}
	if s.opts.Region == "" {
		s.opts.Region = "cn-hangzhou"
	}
	if s.opts.AccountID == "" {
		s.opts.AccountID = "1234567890123456"
	}
	if s.opts.MemoryMB == "" {
		s.opts.MemoryMB = "512"
	}
	creds := opts.Credentials
	if len(creds) == 0 {
		creds = []Credential{DefaultCredential}
	}
	for _, c := range creds {
		s.creds[c.AccessKeyID] = c
	}
	if err := s.startRegistry(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is "http://127.0.0.1:PORT": the value for ROTATOR_SAE_ENDPOINT and ROTATOR_CR_ENDPOINT.
func (s *Server) URL() string { return "http://127.0.0.1:" + s.port }

// RuntimeAPI is "127.0.0.1:PORT": the value for FC_RUNTIME_API.
func (s *Server) RuntimeAPI() string { return "127.0.0.1:" + s.port }

// Host is "127.0.0.1": the Domain for SDK requests (ROA requests need Port set separately).
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the listening port, e.g. for an SDK ROA request's Port field.
func (s *Server) Port() string { return s.port }

// Close stops the server. Hung and waiting requests are aborted (their
// connections are closed without an answer) and pending Invoke calls return
// ErrClosed. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		s.closeErr = s.srv.Close()
		_ = s.registry.app.Shutdown()
		done := make(chan struct{})
		go func() { s.handlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	return s.closeErr
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf("emulator: "+format, args...)
	}
}

// AddCredential registers (or replaces, by AccessKeyID) an accepted signer.
func (s *Server) AddCredential(c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[c.AccessKeyID] = c
}

// RemoveCredential stops accepting an access key (e.g. to emulate a revoked key).
func (s *Server) RemoveCredential(accessKeyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.creds, accessKeyID)
}

// helpers

func nowMS() int64 { return time.Now().UnixMilli() }

// nextUpdateTime is now in ms, but always after prev so that every stored
// change shows a new UpdateTime.
func nextUpdateTime(prev int64) int64 {
	if now := nowMS(); now > prev {
		return now
	}
	return prev + 1
}

func copyData(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func copySecret(sec Secret) Secret {
	sec.Data = copyData(sec.Data)
	sec.RelateApps = append([]App(nil), sec.RelateApps...)
	return sec
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newRequestID looks like the service's request IDs: an upper-case UUID.
func newRequestID() string {
	h := strings.ToUpper(randomHex(16))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// sleepCtx waits d, or less when ctx ends or the server closes; it reports
// whether the full time passed.
func (s *Server) sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}
