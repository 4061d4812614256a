package tests

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Overlapping invocations (timer, event and manual at once) on the same
// secrets in one instance never interleave their read-merge-write on a
// secret: each write is fed by a read taken after every earlier write of
// that secret, and is verified before the next write goes out.
func TestOverlappingInvocationsSerialisePerSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	defer w.guard.Protect()
	callers := []emulator.Credential{
		{AccessKeyID: "STS.timerCaller", AccessKeySecret: "timer-caller-secret", SecurityToken: "timer-caller-token"},
		{AccessKeyID: "STS.eventCaller", AccessKeySecret: "event-caller-secret", SecurityToken: "event-caller-token"},
		{AccessKeyID: "STS.manualCaller", AccessKeySecret: "manual-caller-secret", SecurityToken: "manual-caller-token"},
	}
	for _, c := range callers {
		w.emu.AddCredential(c)
	}
	var refs []string
	for i := range 3 {
		refs = append(refs, byID(nsProd, w.secret(nsProd, fmt.Sprintf("pull-%d", i), map[string]auth{}, nil)))
	}
	w.emu.SetFault("sae", emulator.Fault{Latency: 30 * time.Millisecond})
	// A tight quota, the same for the account and the function: one pacer
	// stays under it, three would not (their bursts and rates add up).
	w.emu.SetQuota(12, time.Second)
	f := w.start(strings.Replace(config(target("prod-pull", refs...)), `"calls":60`, `"calls":12`, 1))
	cloudEvent := `{"specversion":"1.0","id":"e1","source":"acs.cr","type":"cr:Artifact:PushCompleted","data":{"InstanceId":"` + instanceID + `"}}`
	events := []string{timerEvent(""), cloudEvent, `{"action":"rotate","reason":"overlap test"}`}
	var wg sync.WaitGroup
	var mu sync.Mutex
	rotations := map[int64]int{} // secret id → rotated results
	for i := range callers {
		wg.Go(func() {
			rep, failed, err := f.invokeAs(callers[i], events[i], time.Minute)
			// The event run skips a secret another run just wrote (eventCooldown);
			// timer and manual runs rotate every secret.
			if err != nil || failed || rep.Rotated+rep.Skipped != 3 || (i != 1 && rep.Rotated != 3) {
				w.guard.Errorf("invocation %d: err=%v failed=%v results=%+v", i, err, failed, rep.Results)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rep.Results {
				if r.Status == rotation.StatusRotated {
					rotations[idOf(r)]++
				} else if r.Status != rotation.StatusSkipped || r.Reason != rotation.ReasonCooldown {
					t.Errorf("invocation %d: secret %d: status %q reason %q", i, idOf(r), r.Status, r.Reason)
				}
			}
		})
	}
	wg.Wait()

	calls := w.emu.Calls()
	// One pacer for the instance: three invocations at once stay under the
	// account's quota together (each with its own pacer, their bursts and
	// rates would add up past it).
	for _, c := range calls {
		if strings.HasPrefix(c.Code, "Throttling") {
			t.Errorf("%s by %s was throttled: the overlapping invocations did not share one pacer", c.Action, c.AccessKeyID)
		}
	}
	for _, ref := range refs {
		var r struct {
			NamespaceID string `json:"namespaceId"`
			SecretID    int64  `json:"secretId"`
		}
		_ = json.Unmarshal([]byte(ref), &r)
		id := fmt.Sprint(r.SecretID)
		var lastWriteEnd time.Time // when the previous writer's verification ended
		var lastWriter string
		writes := 0
		for i, c := range calls {
			if c.Action != "UpdateSecret" || c.Query.Get("SecretId") != id {
				continue
			}
			writes++
			// The read that fed this write: the caller's latest read of the
			// secret before it (DescribeSecret; ListSecrets where it carries values).
			var read time.Time
			for _, p := range calls[:i] {
				if p.AccessKeyID == c.AccessKeyID && (p.Action == "ListSecrets" || p.Action == "DescribeSecret" && p.Query.Get("SecretId") == id) {
					read = p.Time
				}
			}
			if !lastWriteEnd.IsZero() && read.Before(lastWriteEnd) {
				t.Errorf("secret %s: %s wrote from a read taken before %s's write was verified", id, c.AccessKeyID, lastWriter)
			}
			// This write's verification: the writer's DescribeSecret calls until another write.
			end := c.Time
			for _, n := range calls[i+1:] {
				if n.Query.Get("SecretId") != id {
					continue
				}
				if n.Action == "UpdateSecret" {
					if n.AccessKeyID != c.AccessKeyID && end.Equal(c.Time) {
						t.Errorf("secret %s: %s wrote before %s verified its write", id, n.AccessKeyID, c.AccessKeyID)
					}
					break
				}
				if n.Action == "DescribeSecret" && n.AccessKeyID == c.AccessKeyID {
					end = n.Time
				}
			}
			lastWriteEnd, lastWriter = end, c.AccessKeyID
		}
		if want := rotations[r.SecretID]; writes != want || want < 2 {
			t.Errorf("secret %s was written %d times, want once per invocation that rotated it (%d, at least timer and manual)", id, writes, want)
		}
	}
}

// The read that feeds a merge is at most `freshness` old when its write
// goes out, also when the pacer makes writes wait: aged reads are renewed.
// With the documented answers each secret is read with DescribeSecret;
// where ListSecrets carries the values (secrets by name), one listing
// feeds the writes of a window and a new one the next.
func TestReadIsFreshWhenItsWriteGoesOut(t *testing.T) {
	t.Parallel()
	for _, carrying := range []bool{false, true} {
		t.Run(map[bool]string{false: "documented", true: "ListSecrets carrying values"}[carrying], func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			defer w.guard.Protect()
			w.emu.SetListSecretsData(carrying)
			var refs []string
			for i := range 16 {
				name := fmt.Sprintf("pull-%02d", i)
				id := w.secret(nsProd, name, map[string]auth{}, nil)
				if carrying {
					refs = append(refs, byName(nsProd, name))
				} else {
					refs = append(refs, byID(nsProd, id))
				}
			}
			// 12 calls a second (10 sustained) make the 35 to 48 calls of this
			// run last three to five seconds: several 1s freshness windows.
			cfg := config(target("prod-pull", refs...))
			cfg = strings.Replace(cfg, `"quota":{"calls":60,"per":"1s"}`, `"quota":{"calls":12,"per":"1s"},"freshness":"1s"`, 1)
			f := w.start(cfg)
			rep, failed := f.invoke(timerEvent(""), time.Minute)
			if failed || rep.Rotated != 16 {
				w.guard.Fatalf("failed=%v rotated=%d", failed, rep.Rotated)
			}
			var lastList time.Time
			lastDescribe := map[string]time.Time{} // by SecretId
			for _, c := range w.emu.Calls() {
				switch c.Action {
				case "ListSecrets":
					lastList = c.Time
				case "DescribeSecret":
					lastDescribe[c.Query.Get("SecretId")] = c.Time
				case "UpdateSecret":
					read := lastDescribe[c.Query.Get("SecretId")]
					if carrying {
						read = lastList
					}
					if age := c.Time.Sub(read); age > time.Second+250*time.Millisecond {
						t.Errorf("a write went out %v after the read that fed it (freshness 1s)", age.Round(time.Millisecond))
					}
				}
			}
			if n := len(w.calls("ListSecrets")); carrying && n < 2 {
				t.Errorf("%d ListSecrets for a run three windows long: aged reads were not renewed", n)
			}
		})
	}
}

// Many random interleavings of overlapping invocations, with foreign edits
// made before their reads: no foreign entry is ever lost, and every rotated
// host ends with a token the registry minted. Two targets write different
// hosts of the same secret, so a merge fed by a read from before another
// invocation's write would put back the foreign value the edit set.
func TestRandomizedOverlapsNeverLoseAnEntry(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	w := newWorld(t)
	defer w.guard.Protect()
	ids := []int64{
		w.secret(nsProd, "shared-a", map[string]auth{}, nil),
		w.secret(nsProd, "shared-b", map[string]auth{}, nil),
	}
	refs := byID(nsProd, ids[0]) + "," + byID(nsProd, ids[1])
	pub := `{"name":"pub","source":{"type":"acr-ee","instanceId":"` + instanceID + `","regionId":"cn-hangzhou","domains":["` + publicHost + `"]},"secrets":[` + refs + `]}`
	vpc := `{"name":"vpc","source":{"type":"acr-ee","instanceId":"` + instanceID + `","regionId":"cn-hangzhou","domains":["` + vpcHost + `"]},"secrets":[` + refs + `]}`
	w.emu.SetFault("sae", emulator.Fault{Latency: 5 * time.Millisecond})
	f := w.start(config(pub, vpc))
	cloudEvent := `{"specversion":"1.0","id":"e","source":"acs.cr","type":"cr:Artifact:PushCompleted","data":{"InstanceId":"` + instanceID + `"}}`
	kinds := []string{timerEvent(""), cloudEvent, `{"action":"rotate","targets":["pub"]}`, `{"action":"rotate","targets":["vpc"]}`,
		timerEvent(`{"targets":["vpc"]}`), `{"action":"rotate","targets":["vpc","pub"]}`}

	foreign := map[string]auth{}
	for round := range 20 {
		// A foreign edit before the reads: a new registry entry, and the
		// rotated hosts set to values nobody minted.
		host := fmt.Sprintf("foreign-%d.example.com", round)
		foreign[host] = login("team", fmt.Sprintf("foreign-password-%d", round))
		w.guard.Add(foreign[host].Password, foreign[host].Auth)
		for _, id := range ids {
			auths, top := w.dockerConfig(nsProd, id)
			auths[host] = foreign[host]
			auths[publicHost] = login("someone", fmt.Sprintf("reset-%d-public", round))
			auths[vpcHost] = login("someone", fmt.Sprintf("reset-%d-vpc", round))
			extra := map[string]any{}
			for k, v := range top {
				if k != "auths" {
					extra[k] = v
				}
			}
			enc := encode(t, auths, extra)
			w.guard.Add(enc)
			if err := w.emu.SetSecretData(nsProd, id, map[string]string{".dockerconfigjson": enc}); err != nil {
				t.Fatal(err)
			}
		}
		n := 2 + rng.IntN(3)
		var wg sync.WaitGroup
		var mu sync.Mutex
		rotated := map[string]bool{} // "id host" rotated by some invocation of this round
		for range n {
			event, delay := kinds[rng.IntN(len(kinds))], time.Duration(rng.IntN(30))*time.Millisecond
			wg.Go(func() {
				time.Sleep(delay)
				rep, failed, err := f.invokeAs(sts, event, time.Minute)
				if err != nil || failed {
					w.guard.Errorf("round %d: %s: err=%v failed=%v", round, event, err, failed)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range rep.Results {
					if r.Status != rotation.StatusRotated {
						continue
					}
					for _, h := range r.Registries {
						rotated[fmt.Sprint(idOf(r), " ", h)] = true
					}
				}
			})
		}
		wg.Wait()

		minted := map[auth]bool{}
		for _, tok := range w.emu.Tokens() {
			minted[login(tok.Username, tok.Password)] = true
		}
		for _, id := range ids {
			auths, _ := w.dockerConfig(nsProd, id)
			for h, a := range foreign {
				if auths[h] != a {
					t.Fatalf("round %d (seed %d): secret %d lost the foreign entry %s", round, seed, id, h)
				}
			}
			for _, h := range []string{publicHost, vpcHost} {
				switch {
				case rotated[fmt.Sprint(id, " ", h)] && !minted[auths[h]]:
					t.Fatalf("round %d (seed %d): secret %d: %s was rotated but does not hold a minted token", round, seed, id, h)
				case !rotated[fmt.Sprint(id, " ", h)] && auths[h].Password != fmt.Sprintf("reset-%d-%s", round, map[string]string{publicHost: "public", vpcHost: "vpc"}[h]):
					t.Fatalf("round %d (seed %d): secret %d: %s was not rotated but lost this round's edit", round, seed, id, h)
				}
			}
		}
		w.emu.ResetCalls()
	}
}
