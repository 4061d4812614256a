package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// StoreSeeder seeds n secrets of one store kind in the emulator and returns
// their configuration entries, plus the environment the function needs.
type StoreSeeder func(emu *emulator.Server, n int) (entries []string, env []string, err error)

// StoreSeeders are the stores beside SAE that the benchmark measures.
var StoreSeeders = map[string]StoreSeeder{
	"kms": func(emu *emulator.Server, n int) ([]string, []string, error) {
		var entries []string
		for i := range n {
			name := fmt.Sprintf("acr-pull-%d", i)
			emu.CreateKMSSecret(region, name, dockerConfigJSON(i), false)
			entries = append(entries, fmt.Sprintf(`{"store":"kms","regionId":%q,"secretName":%q}`, region, name))
		}
		return entries, []string{"ROTATOR_KMS_ENDPOINT=" + emu.URL()}, nil
	},
	"csms": func(emu *emulator.Server, n int) ([]string, []string, error) {
		const project = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
		key := emulator.DefaultHuaweiCredential
		emu.AddHuaweiCredential(key)
		var entries []string
		for i := range n {
			name := fmt.Sprintf("acr-pull-%d", i)
			if err := emu.CreateCSMSSecret(project, name, dockerConfigJSON(i), false); err != nil {
				return nil, nil, err
			}
			entries = append(entries, fmt.Sprintf(`{"store":"csms","region":"cn-north-4","projectId":%q,"secretName":%q}`, project, name))
		}
		return entries, []string{"ROTATOR_CSMS_ENDPOINT=" + emu.URL(), "HUAWEICLOUD_SDK_AK=" + key.AK, "HUAWEICLOUD_SDK_SK=" + key.SK}, nil
	},
	"ssm": func(emu *emulator.Server, n int) ([]string, []string, error) {
		key := emulator.DefaultTencentCredential
		emu.AddTencentCredential(key)
		var entries []string
		for i := range n {
			name := fmt.Sprintf("acr-pull-%d", i)
			if err := emu.CreateSSMSecret("ap-guangzhou", name, "current", dockerConfigJSON(i), false); err != nil {
				return nil, nil, err
			}
			entries = append(entries, fmt.Sprintf(`{"store":"ssm","region":"ap-guangzhou","secretName":%q,"versionId":"current"}`, name))
		}
		return entries, []string{"ROTATOR_SSM_ENDPOINT=" + emu.URL(), "TENCENTCLOUD_SECRET_ID=" + key.SecretID, "TENCENTCLOUD_SECRET_KEY=" + key.SecretKey}, nil
	},
}

// dockerConfigJSON is a docker config with a foreign entry to keep.
func dockerConfigJSON(i int) string {
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{
		"docker.io": map[string]string{"username": "team", "password": fmt.Sprintf("hub-password-%d", i)}}})
	return string(b)
}

// StoreResult is what one store rotation measured.
type StoreResult struct {
	Secrets, Rotated int
	Wall             time.Duration
	StoreCalls       int // calls to the store's product
	FailureSample    string
}

// CallsPerSecret is the store's calls per rotated secret.
func (r StoreResult) CallsPerSecret() float64 {
	return float64(r.StoreCalls) / float64(max(1, r.Rotated))
}

// RunStoreRotation rotates n secrets of one store (its own quota, not SAE's)
// in one invocation of the real binary.
func RunStoreRotation(bin, store string, n int) (StoreResult, error) {
	seed := StoreSeeders[store]
	if seed == nil {
		return StoreResult{}, fmt.Errorf("no seeder for store %q", store)
	}
	emu, err := StartEmulator(DefaultScale)
	if err != nil {
		return StoreResult{}, err
	}
	defer emu.Close()
	entries, env, err := seed(emu, n)
	if err != nil {
		return StoreResult{}, err
	}
	cfg := fmt.Sprintf(`{"concurrency":8,"targets":[{"name":"bench","source":{"type":"acr-ee","instanceId":%q,"regionId":%q},"secrets":[%s]}]}`,
		instanceID, region, strings.Join(entries, ","))
	f, err := StartFunction(bin, emu, emu, cfg, env...)
	if err != nil {
		return StoreResult{}, err
	}
	defer f.Stop()
	if err := waitReady(emu, f); err != nil {
		return StoreResult{}, err
	}
	start := time.Now()
	rep, err := invoke(emu, f)
	wall := time.Since(start)
	if err != nil {
		return StoreResult{}, err
	}
	if rep.Error != nil {
		return StoreResult{}, fmt.Errorf("the invocation was refused: %s: %s", rep.Error.Code, rep.Error.Message)
	}
	r := StoreResult{Secrets: n, Rotated: rep.Rotated, Wall: wall}
	_, r.FailureSample = failures(rep)
	for _, c := range emu.Calls() {
		if c.Product == store {
			r.StoreCalls++
		}
	}
	return r, nil
}
