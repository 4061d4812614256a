package rotation

import (
	"time"

	"github.com/sae-secret-rotator/rotator/dockercfg"
)

// lastChange is when a secret last changed as far as the event cooldown and
// the retry rule can tell (coolingDown): the later of this instance's last
// rotation of it (rotated, zero when none) and the store's own record of
// its last change (sec.Changed, zero when the store keeps none and before
// the secret is read). That record holds in a new instance and for the
// command line, but it does not say who changed the secret: it counts only
// where the docker config already holds an auths entry for every registry
// host of the source (hosts, matched as the merge matches them), so that a
// recent edit that dropped one of them never hides it.
func lastChange(rotated time.Time, sec Secret, hosts []string) time.Time {
	if !sec.Changed.After(rotated) {
		return rotated
	}
	if ch, err := dockercfg.Diff(sec.Config, hosts); err == nil && len(ch.Added) == 0 {
		return sec.Changed
	}
	return rotated
}
