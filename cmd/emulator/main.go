// Command emulator serves the bundled emulator of SAE, ACR (Enterprise and
// Personal Edition), STS, KMS Secrets Manager, Huawei Cloud CSMS, Tencent
// Cloud SSM and a registry (CNCF Distribution, holding demo/app:v1; and the
// FC runtime API, which the command line does not use) on a fixed local
// address, seeded to match examples/rotator.yaml, so that the command line
// can be tried without a cloud account (docs/command-line.md). It
// prints the environment to paste into another shell, logs every API call it
// answers on stderr, and serves until interrupted.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// The seeded cloud; examples/rotator.yaml names the same things.
const (
	region     = "cn-hangzhou"
	instanceID = "cri-demo"
	nsProd     = "cn-hangzhou:prod"
	nsStaging  = "cn-hangzhou:staging"
	dockerType = "kubernetes.io/dockerconfigjson"
	// csmsProject holds the CSMS secret acr-pull.
	csmsProject = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
)

// key is the one credential the emulator accepts: not a real one.
var key = emulator.DefaultCredential

// huaweiKey is the Huawei Cloud key the emulator accepts for CSMS: not a real one.
var huaweiKey = emulator.DefaultHuaweiCredential

// seeds fill the emulator, one function per emulated service: a new
// service adds its own.
var seeds = []func(*emulator.Server) error{seedACR, seedSAE, seedKMS, seedCSMS, seedSSM, seedSources, seedRegistry}

// services are what the emulator answers, as its banner names them; a new
// service adds its name here too.
var services = []string{"SAE", "ACR (Enterprise and Personal Edition)", "STS", "KMS Secrets Manager", "Huawei Cloud CSMS",
	"Tencent Cloud SSM", "a registry (CNCF Distribution)", "the FC runtime API"}

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "`ADDR` to listen on; keep it on loopback, where the rotator allows plain HTTP")
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	emu, err := start(*listen, os.Stdout, logger)
	if err != nil {
		logger.Printf("emulator: %v", err)
		os.Exit(1)
	}
	defer emu.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	logger.Printf("emulator: stopping")
}

// start serves and seeds the emulator, then prints the lines to paste into
// another shell on out and the banner on the log. Its errors are worded for
// people, without the emulator's own "emulator:" prefix.
func start(listen string, out io.Writer, logger *log.Logger) (*emulator.Server, error) {
	emu, err := emulator.Start(emulator.Options{Addr: listen, Credentials: []emulator.Credential{key}, Logf: logger.Printf})
	if err != nil {
		return nil, listenError(listen, err)
	}
	for _, seed := range seeds {
		if err := seed(emu); err != nil {
			_ = emu.Close()
			return nil, fmt.Errorf("seeding the emulator: %w", err)
		}
	}
	// Printed once the cloud is ready: the lines to paste into another shell.
	for _, kv := range exports(emu.URL()) {
		fmt.Fprintf(out, "export %s=%s\n", kv[0], kv[1])
	}
	fmt.Fprintln(out, "# ready: paste the lines above into another shell")
	logger.Print(banner(emu.URL()))
	return emu, nil
}

// exports is the environment of the command line that talks to the emulator at url.
func exports(url string) [][2]string {
	return [][2]string{
		{"ROTATOR_SAE_ENDPOINT", url},
		{"ROTATOR_CR_ENDPOINT", url},
		{"ROTATOR_REGISTRY_ENDPOINT", url},
		{"ROTATOR_KMS_ENDPOINT", url},
		{"ROTATOR_STS_ENDPOINT", url},
		{"ALIBABA_CLOUD_ACCESS_KEY_ID", key.AccessKeyID},
		{"ALIBABA_CLOUD_ACCESS_KEY_SECRET", key.AccessKeySecret},
		{"ROTATOR_CSMS_ENDPOINT", url},
		{"HUAWEICLOUD_SDK_AK", huaweiKey.AK},
		{"HUAWEICLOUD_SDK_SK", huaweiKey.SK},
		{"ROTATOR_SSM_ENDPOINT", url},
		{"TENCENTCLOUD_SECRET_ID", emulator.DefaultTencentCredential.SecretID},
		{"TENCENTCLOUD_SECRET_KEY", emulator.DefaultTencentCredential.SecretKey},
		{"ROTATOR_CONFIG_FILE", "examples/rotator.yaml"},
	}
}

func banner(url string) string {
	return fmt.Sprintf("emulator: %s and %s at %s; Ctrl-C stops it", strings.Join(services[:len(services)-1], ", "), services[len(services)-1], url)
}

// listenError words a failed start once: what is wrong and what to do.
func listenError(listen string, err error) error {
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s is already in use (is another emulator running?): stop it, or choose another address with -listen", listen)
	case errors.As(err, &op):
		return fmt.Errorf("cannot listen on %s: %v", listen, op.Err)
	default:
		return fmt.Errorf("cannot start on %s: %s", listen, strings.TrimPrefix(err.Error(), "emulator: "))
	}
}

// seedACR adds the ACR EE instance with the emulator's default endpoints
// (public and VPC registry domains).
func seedACR(emu *emulator.Server) error {
	emu.AddInstance(emulator.Instance{ID: instanceID, RegionID: region})
	return nil
}

// seedSAE adds two namespaces with a pull secret each. The prod one holds
// another registry's login and an expired one for the instance, which a
// rotation replaces, so the merge can be seen keeping the first.
func seedSAE(emu *emulator.Server) error {
	emu.AddNamespace(nsProd)
	emu.AddNamespace(nsStaging)
	prod := dockerConfig(map[string]map[string]string{
		"docker.io": login("team", "docker-hub-password"),
		"https://" + instanceID + "-registry." + region + ".cr.aliyuncs.com/": login("cr_temp_user", "expired-token"),
	})
	if _, err := emu.CreateSecret(emulator.Secret{NamespaceID: nsProd, Name: "acr-pull", Type: dockerType,
		Data:       map[string]string{".dockerconfigjson": prod},
		RelateApps: []emulator.App{{AppID: "0d3f-prod-api", AppName: "prod-api"}, {AppID: "77aa-prod-web", AppName: "prod-web"}}}); err != nil {
		return err
	}
	_, err := emu.CreateSecret(emulator.Secret{NamespaceID: nsStaging, Name: "acr-pull", Type: dockerType,
		Data:       map[string]string{".dockerconfigjson": dockerConfig(map[string]map[string]string{})},
		RelateApps: []emulator.App{{AppID: "5e21-staging-api", AppName: "staging-api"}}})
	return err
}

// seedKMS adds the KMS secret acr-pull in the region, holding another
// registry's login that a rotation keeps: its value is the docker config
// document itself.
func seedKMS(emu *emulator.Server) error {
	b, err := json.Marshal(map[string]any{"auths": map[string]map[string]string{"docker.io": login("team", "docker-hub-password")}})
	if err != nil {
		return err
	}
	emu.CreateKMSSecret(region, "acr-pull", string(b), false)
	return nil
}

// seedCSMS adds the Huawei Cloud key and a CSMS secret whose value is the
// docker config itself, with another registry's login to keep.
func seedCSMS(emu *emulator.Server) error {
	emu.AddHuaweiCredential(huaweiKey)
	b, _ := json.Marshal(map[string]any{"auths": map[string]map[string]string{"docker.io": login("team", "docker-hub-password")}})
	return emu.CreateCSMSSecret(csmsProject, "acr-pull", string(b), false)
}

func dockerConfig(auths map[string]map[string]string) string {
	b, _ := json.Marshal(map[string]any{"auths": auths})
	return base64.StdEncoding.EncodeToString(b)
}

func login(user, pass string) map[string]string {
	return map[string]string{"username": user, "password": pass, "auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
}

// minterRole is the role examples/rotator.yaml mints the EE token with.
const minterRole = "acs:ram::1234567890123456:role/acr-token-minter"

// seedSources adds what the other credential sources need: the minting role
// (trusting the command line's key) and a secret for the Personal Edition
// target (ACR Personal Edition itself needs no seeding).
func seedSources(emu *emulator.Server) error {
	emu.AddRole(minterRole, key.AccessKeyID)
	_, err := emu.CreateSecret(emulator.Secret{NamespaceID: nsProd, Name: "personal-pull", Type: dockerType,
		Data:       map[string]string{".dockerconfigjson": dockerConfig(map[string]map[string]string{})},
		RelateApps: []emulator.App{{AppID: "9b40-prod-batch", AppName: "prod-batch"}}})
	return err
}

// seedRegistry pushes demo/app:v1, the image examples/rotator.yaml proves
// its tokens on (probeRepository), to the instance as a CI job would, and
// lets the identities that mint pull from the instance, as the deploy
// files grant them: a token carries its minter's permissions.
func seedRegistry(emu *emulator.Server) error {
	for _, minter := range []string{minterRole, key.AccessKeyID} {
		if err := emu.Grant(minter, emulator.ActionPull, "acs:cr:"+region+":1234567890123456:repository/"+instanceID+"/*"); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := emu.Publish(ctx, instanceID, "demo/app", "v1")
	return err
}

// seedSSM adds Tencent Cloud SSM's key and the secret acr-pull in
// ap-guangzhou, whose version "current" holds another registry's login.
func seedSSM(emu *emulator.Server) error {
	emu.AddTencentCredential(emulator.DefaultTencentCredential)
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{"ccr.ccs.tencentyun.com": login("100012345678", "tcr-password")}})
	return emu.CreateSSMSecret("ap-guangzhou", "acr-pull", "current", string(b), false)
}
