package rotation

import (
	"strings"
	"sync"
)

// redactor removes known secret values from text bound for a report or log:
// a second line of defence behind messages built without them.
type redactor struct {
	mu     sync.Mutex
	values []string
}

func (r *redactor) add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if len(v) >= 8 {
			r.values = append(r.values, v)
		}
	}
}

func (r *redactor) clean(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}
