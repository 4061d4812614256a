package rotation

import (
	"context"
	"sync"
	"time"
)

// fakeClock is a Clock that moves only when told: a Sleep moves it by the
// time slept, at once, and a call to a fake store by the store's latency.
// With one secret rotating at a time, a run on it is deterministic and takes
// no wall time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// newFakeClock starts at the wall clock's time: a context's deadline set
// from the fake clock's now is as far in the wall clock's future, and its
// timer fires only after the test, which takes no wall time to speak of.
func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Advance moves the clock on by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}
