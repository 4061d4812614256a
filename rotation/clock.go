package rotation

import (
	"context"
	"time"
)

// Clock is the engine's time: every reading of the time and every wait of
// the engine goes through it (the pacer, calls and their retries, the
// freshness of reads, verification, the cooldown, the deadline checks).
// Production uses the wall clock; the engine's timing tests use a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns ctx.Err() when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is the real time.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleep waits d on the clock, or refuses at once (errNoTime) when d would
// end past ctx's deadline: a wait that cannot end in time is not worth
// starting.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && c.Now().Add(d).After(dl) {
		return errNoTime
	}
	return c.Sleep(ctx, d)
}
