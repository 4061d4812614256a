package rotation

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/dockercfg"
)

// verifyDelays space the re-reads of a secret whose read lags its write.
var verifyDelays = []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

// verify reads the secret back until it shows what was written, and
// records the rotation (res, and the cooldown's start).
func (w *invocation) verify(ctx context.Context, j *job, want Secret, res *Result) error {
	got, err := w.readBack(ctx, j.st, want, res.VersionID)
	if err != nil {
		return err
	}
	res.Status, res.RelateApps = StatusRotated, appsOf(got)
	j.rotated = true
	return nil
}

// readBack reads the secret back until it holds what was written.
func (w *invocation) readBack(ctx context.Context, st *storeRT, want Secret, version string) (Secret, error) {
	var mismatch string
	for i, d := range verifyDelays {
		if d > 0 {
			if err := sleep(ctx, w.r.clock, d); err != nil {
				return Secret{}, errorf(DeadlineExceeded, "written, but the deadline came before the read-back confirmed it (%s)", mismatch)
			}
		}
		var got Secret
		err := w.call(ctx, st.lane, "read back", func(ctx context.Context) (err error) {
			got, err = st.store.ReadBack(ctx, w.creds, want, version)
			return err
		})
		if err != nil {
			if CodeOf(err) == DeadlineExceeded {
				return Secret{}, errorf(DeadlineExceeded, "written, but the deadline came before the read-back confirmed it")
			}
			return Secret{}, w.failure(err, VerificationFailed)
		}
		w.learn(got)
		if mismatch = differs(got, want, version); mismatch == "" {
			if i > 0 {
				w.log.Debug("verification needed re-reads", append(whereFields(want.Where), zap.Int("reads", i+1))...)
			}
			return got, nil
		}
	}
	return Secret{}, errorf(VerificationFailed, "the store does not show the write after %d reads: %s", len(verifyDelays), mismatch)
}

// differs says how got differs from want, or "" when it holds all of it.
func differs(got, want Secret, version string) string {
	if version != "" && got.Version != "" && got.Version != version {
		return fmt.Sprintf("the current version is %q, not the one written (%q)", got.Version, version)
	}
	if eq, err := dockercfg.EquivalentJSON(got.Config, want.Config); err != nil || !eq {
		return "the docker config differs from what was written"
	}
	for k, v := range want.Rest {
		if g, ok := got.Rest[k]; !ok {
			return fmt.Sprintf("key %q is missing", k)
		} else if g != v {
			return fmt.Sprintf("key %q differs from what was written", k)
		}
	}
	return ""
}
