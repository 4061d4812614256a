// Package emulator is a local, in-memory emulator of the Alibaba Cloud APIs
// that the credential-rotator function uses:
//
//   - SAE secrets (product sae, version 2019-05-06, ROA style): DescribeSecret,
//     UpdateSecret, ListSecrets, CreateSecret under /pop/v1/sam/secret/...;
//   - ACR Enterprise Edition (product cr, version 2018-12-01, RPC style):
//     GetAuthorizationToken, ListInstanceEndpoint;
//   - KMS Secrets Manager (product kms, version 2016-01-20, RPC style):
//     GetSecretValue, PutSecretValue (kms.go);
//   - ACR Personal Edition (product cr, version 2016-06-07, ROA style):
//     GetAuthorizationToken (GET /tokens);
//   - STS (version 2015-04-01, RPC style): AssumeRole of roles added with AddRole;
//   - the Function Compute runtime API (/2020-11-11/runtime/invocation/...)
//     as polled by github.com/aliyun/fc-runtime-go-sdk.
//
// One HTTP server on 127.0.0.1 serves all three. It speaks the real wire
// protocol, so the real SDK clients can be pointed at it: every SAE and ACR
// request must carry a valid signature (ROA Authorization header or RPC
// Signature parameter) made with a registered credential.
//
// Tests can inject faults per action or per product (SetFault), watch every
// call (Calls), read the stored state directly (Secret) and edit it behind the
// function's back (SetSecretData).
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
	"sort"
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

// App is an SAE application that uses a secret.
type App struct{ AppID, AppName string }

// Secret is an SAE secret.
type Secret struct {
	NamespaceID string
	ID          int64
	Name, Type  string
	Data        map[string]string // SecretData, e.g. {".dockerconfigjson": base64(json)}
	RelateApps  []App
	CreateTime  int64 // ms
	UpdateTime  int64 // ms
}

// Endpoint is one ACR EE Registry endpoint of an instance.
type Endpoint struct {
	Type    string // "internet" | "vpc"
	Enabled bool
	Domains []string // the first is reported as Type SYSTEM, the others as USER
}

// Instance is an ACR Enterprise Edition instance.
//
// When Endpoints is nil, AddInstance gives the instance an enabled internet
// endpoint "<ID>-registry.<RegionID>.cr.aliyuncs.com" and an enabled vpc
// endpoint "<ID>-registry-vpc.<RegionID>.cr.aliyuncs.com" (RegionID defaults
// to cn-hangzhou). Pass a non-nil empty slice for an instance without
// endpoints.
type Instance struct {
	ID, RegionID string
	Endpoints    []Endpoint
	TokenTTL     time.Duration // default 1h
}

// Token is one temporary registry credential minted by GetAuthorizationToken.
type Token struct {
	InstanceID, Username, Password string
	ExpiresAt                      time.Time
	AccessKeyID                    string // the signer of the GetAuthorizationToken call
}

// Call is one SAE or ACR request as the emulator saw it.
type Call struct {
	Time    time.Time
	Product string // "sae" | "cr" | "kms" | "sts" | "registry" (FC runtime API calls are NOT recorded here)
	Action  string // DescribeSecret, UpdateSecret, ListSecrets, CreateSecret, GetAuthorizationToken, ListInstanceEndpoint
	Method  string
	Path    string
	// Query holds the request parameters (for RPC, query and form merged;
	// the Signature parameter is left out). For UpdateSecret it holds the
	// credential: never print Calls in test failure output.
	Query                      url.Values
	AccessKeyID, SecurityToken string // as presented by the caller (also when refused)
	Status                     int    // HTTP status answered; 0 while unanswered or when never answered (Hang, client gone)
	Code                       string // error code answered, "" on success
}

// Permission is the RAM action the call needs, e.g. "sae:UpdateSecret" or
// "cr:GetAuthorizationToken".
func (c Call) Permission() string { return c.Product + ":" + c.Action }

// Fault describes misbehaviour injected into matching calls. See SetFault.
type Fault struct {
	Throttle   int           // the next N matching calls answer 400 Throttling.User
	Fail       int           // the next N matching calls answer FailStatus (default 500) with a 5xx error body
	FailStatus int           // used as given when set
	Latency    time.Duration // added before answering every matching call
	Hang       bool          // accept the request and never answer (until the client goes away or Close)
	DropWrites int           // UpdateSecret: the next N writes answer success but are not stored
	LagReads   int           // DescribeSecret/ListSecrets: after each stored write, the next N reads of that secret still show the data from before the write
	// Echo: the next N matching calls answer 400 InvalidParameter.WithMessage
	// quoting the request's parameters and security token, cut to EchoCut
	// characters (0: whole), as a server that quotes what it was sent does.
	Echo, EchoCut int
}

func (f Fault) zero() bool { return f == Fault{} }

// Options configure Start.
type Options struct {
	Addr        string                           // where to listen, e.g. "127.0.0.1:18080"; empty means 127.0.0.1 on a free port
	Credentials []Credential                     // accepted signers; empty means []Credential{DefaultCredential}
	Quota       int                              // SAE calls per QuotaWindow per account; 0 means 60; negative disables the quota
	QuotaWindow time.Duration                    // 0 means time.Minute (tests and benchmarks scale it down)
	Logf        func(format string, args ...any) // optional; never logs secret data or signatures

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
	sts        stsState      // sts.go

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

// AddNamespace creates an SAE namespace, e.g. "cn-hangzhou:prod".
func (s *Server) AddNamespace(namespaceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.namespaces[namespaceID] = true
}

// CreateSecret stores a secret directly (no validation of its data, so tests
// can seed corrupt secrets; names need not be unique). ID 0 assigns the next
// free ID (IDs are unique across namespaces and start at 1). The namespace is
// created when missing. Type defaults to "Opaque"; CreateTime defaults to now
// and UpdateTime to CreateTime.
func (s *Server) CreateSecret(sec Secret) (int64, error) {
	if sec.NamespaceID == "" {
		return 0, errors.New("emulator: CreateSecret: NamespaceID is empty")
	}
	if sec.ID < 0 {
		return 0, errors.New("emulator: CreateSecret: negative ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createLocked(sec)
}

func (s *Server) createLocked(sec Secret) (int64, error) {
	if sec.ID == 0 {
		for s.secrets[s.nextID] != nil {
			s.nextID++
		}
		sec.ID = s.nextID
	} else if s.secrets[sec.ID] != nil {
		return 0, fmt.Errorf("emulator: CreateSecret: secret %d already exists", sec.ID)
	}
	if sec.ID >= s.nextID {
		s.nextID = sec.ID + 1
	}
	if sec.Type == "" {
		sec.Type = "Opaque"
	}
	if sec.CreateTime == 0 {
		sec.CreateTime = nowMS()
	}
	if sec.UpdateTime == 0 {
		sec.UpdateTime = sec.CreateTime
	}
	s.namespaces[sec.NamespaceID] = true
	s.secrets[sec.ID] = &secretState{cur: copySecret(sec)}
	return sec.ID, nil
}

// Secret returns a deep copy of the stored state of a secret: no faults, no
// lag, not recorded, no quota.
func (s *Server) Secret(namespaceID string, id int64) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.secrets[id]
	if st == nil || st.cur.NamespaceID != namespaceID {
		return Secret{}, false
	}
	return copySecret(st.cur), true
}

// Secrets returns deep copies of the stored secrets of a namespace, by ID.
func (s *Server) Secrets(namespaceID string) []Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Secret
	for _, st := range s.secrets {
		if st.cur.NamespaceID == namespaceID {
			out = append(out, copySecret(st.cur))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SetSecretData replaces a secret's data as an edit made outside the function
// would (a "foreign edit"). It is visible to the very next read: it also ends
// any read lag pending from an earlier UpdateSecret.
func (s *Server) SetSecretData(namespaceID string, id int64, data map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.secrets[id]
	if st == nil || st.cur.NamespaceID != namespaceID {
		return fmt.Errorf("emulator: SetSecretData: no secret %d in namespace %q", id, namespaceID)
	}
	st.cur.Data = copyData(data)
	st.cur.UpdateTime = nextUpdateTime(st.cur.UpdateTime)
	st.prev = nil
	return nil
}

// SetRelateApps replaces the applications listed as using a secret.
func (s *Server) SetRelateApps(namespaceID string, id int64, apps []App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.secrets[id]
	if st == nil || st.cur.NamespaceID != namespaceID {
		return fmt.Errorf("emulator: SetRelateApps: no secret %d in namespace %q", id, namespaceID)
	}
	st.cur.RelateApps = append([]App(nil), apps...)
	return nil
}

// AddInstance registers (or replaces, by ID) an ACR EE instance.
func (s *Server) AddInstance(in Instance) {
	if in.RegionID == "" {
		in.RegionID = "cn-hangzhou"
	}
	if in.TokenTTL <= 0 {
		in.TokenTTL = time.Hour
	}
	if in.Endpoints == nil {
		in.Endpoints = []Endpoint{
			{Type: "internet", Enabled: true, Domains: []string{in.ID + "-registry." + in.RegionID + ".cr.aliyuncs.com"}},
			{Type: "vpc", Enabled: true, Domains: []string{in.ID + "-registry-vpc." + in.RegionID + ".cr.aliyuncs.com"}},
		}
	}
	eps := make([]Endpoint, len(in.Endpoints))
	for i, e := range in.Endpoints {
		e.Domains = append([]string(nil), e.Domains...)
		eps[i] = e
	}
	in.Endpoints = eps
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances[in.ID] = in
}

// Tokens returns every token minted, in order.
func (s *Server) Tokens() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Token(nil), s.tokens...)
}

// SetFault sets the fault for a key, replacing that key's previous fault. The
// key is an Action name ("UpdateSecret") or a product ("sae", "cr") for all
// its actions. A zero Fault removes the key.
//
// When both an action's fault and its product's fault are set, a call is
// affected by both: Hang if either hangs, the latencies add up, and the
// countdowns (Throttle, Fail, DropWrites) are consumed from the action's
// fault first. LagReads is the larger of the two.
//
// Per call, faults apply in the order Hang, Latency, Throttle, Fail, and then
// normal handling (signature check, quota, the action itself with DropWrites
// and LagReads).
func (s *Server) SetFault(action string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.zero() {
		delete(s.faults, action)
		return
	}
	s.faults[action] = &f
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]*Fault{}
}

// Faults returns the current faults by key (their countdowns as consumed so far).
func (s *Server) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fault, len(s.faults))
	for k, f := range s.faults {
		out[k] = *f
	}
	return out
}

// Calls returns a copy of the call log, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
		out[i].Query = cloneValues(c.Query)
	}
	return out
}

// ResetCalls empties the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// SetQuota changes the SAE quota (same meaning as Options.Quota and
// Options.QuotaWindow) and forgets the calls counted so far.
func (s *Server) SetQuota(quota int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if quota == 0 {
		quota = 60
	}
	if window <= 0 {
		window = time.Minute
	}
	s.quota, s.window, s.admitted = quota, window, nil
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
