// Command emulator serves the bundled emulator of SAE and ACR Enterprise
// Edition on a fixed local address, seeded to match examples/rotator.yaml,
// so that the command line can be tried without a cloud account (README,
// "The command line"). It prints the environment to paste into another
// shell, logs every API call it answers on stderr, and serves until
// interrupted.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// The seeded cloud; examples/rotator.yaml names the same things.
const (
	region     = "cn-hangzhou"
	instanceID = "cri-demo"
	nsProd     = "cn-hangzhou:prod"
	nsStaging  = "cn-hangzhou:staging"
	dockerType = "kubernetes.io/dockerconfigjson"
)

// key is the one credential the emulator accepts: not a real one.
var key = emulator.DefaultCredential

// seeds fill the emulator, one function per emulated service: a new
// service adds its own.
var seeds = []func(*emulator.Server) error{seedACR, seedSAE, seedSSM}

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "`ADDR` to listen on; keep it on loopback, where the rotator allows plain HTTP")
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	if err := run(*listen, logger); err != nil {
		logger.Printf("emulator: %v", err)
		os.Exit(1)
	}
}

func run(listen string, logger *log.Logger) error {
	emu, err := emulator.Start(emulator.Options{Addr: listen, Credentials: []emulator.Credential{key}, Logf: logger.Printf})
	if err != nil {
		return err
	}
	defer emu.Close()
	for _, seed := range seeds {
		if err := seed(emu); err != nil {
			return err
		}
	}
	// Printed once the cloud is ready: the lines to paste into another shell.
	for _, kv := range [][2]string{
		{"ROTATOR_SAE_ENDPOINT", emu.URL()},
		{"ROTATOR_CR_ENDPOINT", emu.URL()},
		{"ALIBABA_CLOUD_ACCESS_KEY_ID", key.AccessKeyID},
		{"ALIBABA_CLOUD_ACCESS_KEY_SECRET", key.AccessKeySecret},
		{"ROTATOR_SSM_ENDPOINT", emu.URL()},
		{"TENCENTCLOUD_SECRET_ID", emulator.DefaultTencentCredential.SecretID},
		{"TENCENTCLOUD_SECRET_KEY", emulator.DefaultTencentCredential.SecretKey},
		{"ROTATOR_CONFIG_FILE", "examples/rotator.yaml"},
	} {
		fmt.Printf("export %s=%s\n", kv[0], kv[1])
	}
	logger.Printf("emulator: SAE and ACR EE at %s; Ctrl-C stops it", emu.URL())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	logger.Printf("emulator: stopping")
	return nil
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

func dockerConfig(auths map[string]map[string]string) string {
	b, _ := json.Marshal(map[string]any{"auths": auths})
	return base64.StdEncoding.EncodeToString(b)
}

func login(user, pass string) map[string]string {
	return map[string]string{"username": user, "password": pass, "auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
}

// seedSSM adds Tencent Cloud SSM's key and the secret acr-pull in
// ap-guangzhou, whose version "current" holds another registry's login.
func seedSSM(emu *emulator.Server) error {
	emu.AddTencentCredential(emulator.DefaultTencentCredential)
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{"ccr.ccs.tencentyun.com": login("100012345678", "tcr-password")}})
	return emu.CreateSSMSecret("ap-guangzhou", "acr-pull", "current", string(b), false)
}
