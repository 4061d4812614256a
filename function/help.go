package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// helpText is what -h prints on stderr: the one output there that is not a
// JSON log line, since a person asked for it.
const helpText = `sae-secret-rotator: keeps registry pull secrets (SAE, KMS, CSMS, SSM) holding fresh ACR credentials.

Usage:
  main -event FILE [-timeout 15m]  run one invocation of the event in FILE ("-": stdin) and
                                   print its report as JSON on stdout
  main -check [-event FILE]        check the configuration, this environment (and the
                                   event) without calling a cloud; print what would be rotated
  main -version                    print the version and VCS revision
  main -h                          this help
Inside Function Compute (FC_RUNTIME_API set) no flag is needed: the binary serves invocations.

Environment:
  ROTATOR_CONFIG or ROTATOR_CONFIG_FILE   the configuration: inline JSON, or a YAML/JSON file
  ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN
                                          credentials outside FC (in FC, the function role's)
  HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK  csms secrets;  TENCENTCLOUD_SECRET_ID,
  TENCENTCLOUD_SECRET_KEY                 ssm secrets (and their optional session tokens)
  ROTATOR_{SAE,CR,STS,KMS,CSMS,SSM,REGISTRY}_ENDPOINT   endpoint overrides
  ROTATOR_LOG_LEVEL                       debug, info (default), warn or error

Exit codes: 0 every secret succeeded (or the check passed), 1 a secret failed,
2 bad input or configuration (nothing written).
Logs are JSON lines on stderr. Documentation: README.md and docs/ (configuration.md,
events.md, report.md, command-line.md, deploy.md, failure-modes.md, performance.md,
fuzzing.md, cloud-apis.md, adding-a-store.md) at https://github.com/sae-secret-rotator/rotator
`

// versionText is the module version and VCS revision the binary was built
// from, as far as the build recorded them: builds with -buildvcs=false
// (as cmd/package's) carry no revision.
func versionText() string {
	version, module, rev, when, dirty := "(devel)", "github.com/sae-secret-rotator/rotator", "unknown revision", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && s.Value != "":
				rev = "revision " + s.Value
			case s.Key == "vcs.time" && s.Value != "":
				when = " of " + s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = ", modified"
			}
		}
	}
	return fmt.Sprintf("sae-secret-rotator %s (%s), %s%s%s, %s %s/%s", version, module, rev, when, dirty,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
