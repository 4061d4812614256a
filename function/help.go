package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
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
events.md, report.md, command-line.md, deploy.md, failure-modes.md, cloud-apis.md)
at https://github.com/sae-secret-rotator/rotator
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

// check runs `main -check [-event FILE]`: the configuration as every
// invocation here would load it, this environment as the function's, and
// the event if one is named. The report goes to stdout; exit 0 when it
// passes, 2 when an invocation would be refused.
func check(log *zap.Logger, o cliOptions, stdin io.Reader, stdout io.Writer) int {
	opts := catalog.CheckOptions{Where: catalog.Here}
	if os.Getenv(envRuntimeAPI) == "" {
		// Outside FC, `main -event` signs with these; in FC each invocation
		// brings the function role's.
		c := envCredentials()
		opts.Credentials = &c
	}
	var rep *catalog.CheckReport
	if o.event != "" {
		ev, err := readEvent(o.event, stdin)
		if err != nil {
			rep = &catalog.CheckReport{Targets: []rotation.CheckedTarget{}, Error: &rotation.ResultError{Code: rotation.InvalidEvent, Message: err.Error()}}
		}
		opts.Event, opts.EventOrigin = ev, eventOrigin(o.event)
	}
	if rep == nil {
		rep = catalog.Check(os.Getenv, opts)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	_, _ = stdout.Write(append(b, '\n'))
	if !rep.OK {
		log.Error("check failed", zap.String("config", rep.Config), zap.String("code", string(rep.Error.Code)),
			zap.String("error", rep.Error.Message))
		return exitBadInput
	}
	fields := []zap.Field{zap.String("config", rep.Config), zap.Int("targets", len(rep.Targets)), zap.Int("secrets", rep.Secrets)}
	if rep.Event != nil {
		fields = append(fields, zap.Strings("eventTargets", rep.Event.Targets))
	}
	if len(rep.Placeholders) > 0 {
		fields = append(fields, zap.Strings("placeholders", rep.Placeholders))
	}
	if rep.Credentials != "" {
		fields = append(fields, zap.String("credentials", rep.Credentials))
	}
	if len(rep.Placeholders) > 0 || rep.Credentials != "" {
		log.Warn("check passed, with warnings", fields...)
	} else {
		log.Info("check passed", fields...)
	}
	return exitOK
}
