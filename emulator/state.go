package emulator

// What tests set and read directly: SAE and ACR state (no faults, no lag,
// not recorded, no quota), the faults, the call log and the quota.

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

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

// DeleteSecret removes a secret, as a deletion outside the function would.
func (s *Server) DeleteSecret(namespaceID string, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.secrets[id]
	if st == nil || st.cur.NamespaceID != namespaceID {
		return fmt.Errorf("emulator: DeleteSecret: no secret %d in namespace %q", id, namespaceID)
	}
	delete(s.secrets, id)
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
