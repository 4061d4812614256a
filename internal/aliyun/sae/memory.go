package sae

import "sync"

// memory is what the store learns from SAE's answers for the life of the
// process. It is only a fast path: FC gives each invocation an instance of
// its own, and a warm instance serves the next ones. Every use is checked
// by the answer it leads to (oneSnapshot.Find).
type memory struct {
	mu      sync.Mutex
	ids     map[string]int64 // namespace + "\x00" + secretName → the SecretId it resolved to
	carries map[string]bool  // namespace → its last ListSecrets carried every secret's SecretData
}

func nameKey(ns, name string) string { return ns + "\x00" + name }

// alone says how to read r without a ListSecrets first: a secret by id,
// or by a name resolved before, is read with DescribeSecret, except in a
// namespace whose ListSecrets answers carry the values (an older API
// version): one ListSecrets then reads many secrets.
func (m *memory) alone(r *Ref) (*one, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.carries[r.NamespaceID]:
		return nil, false
	case r.SecretName == "":
		return &one{ns: r.NamespaceID, id: r.SecretID}, true
	}
	if id, ok := m.ids[nameKey(r.NamespaceID, r.SecretName)]; ok {
		return &one{ns: r.NamespaceID, id: id, name: r.SecretName}, true
	}
	return nil, false
}

// listed learns from a namespace's ListSecrets answer: the ids of the
// names that occur once in it (so that the namespace's other secrets by
// name need no listing of their own), and whether it carried values.
func (m *memory) listed(ns string, secrets []secretJSON) {
	if len(secrets) == 0 {
		return
	}
	all := true
	count := map[string]int{}
	for i := range secrets {
		all = all && secrets[i].carried()
		count[secrets[i].SecretName]++
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.carries == nil {
		m.carries, m.ids = map[string]bool{}, map[string]int64{}
	}
	m.carries[ns] = all
	for i := range secrets {
		if name := secrets[i].SecretName; count[name] == 1 {
			m.ids[nameKey(ns, name)] = secrets[i].SecretID
		} else {
			delete(m.ids, nameKey(ns, name))
		}
	}
}

func (m *memory) resolved(ns, name string, id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids == nil {
		m.ids = map[string]int64{}
	}
	m.ids[nameKey(ns, name)] = id
}

func (m *memory) forget(ns, name string) {
	if name == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ids, nameKey(ns, name))
}
