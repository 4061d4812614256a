// Command main is the rotator's Function Compute handler. Inside FC
// (FC_RUNTIME_API set) it serves invocations through fc-runtime-go-sdk;
// elsewhere `main -event FILE|-` runs one invocation and prints the report.
// Every line it writes to stderr is a JSON log line, usage errors included.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Environment variables read besides the configuration's.
const (
	envRuntimeAPI  = "FC_RUNTIME_API"
	envAccessKey   = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	envSecretKey   = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	envToken       = "ALIBABA_CLOUD_SECURITY_TOKEN"
	envLogLevel    = "ROTATOR_LOG_LEVEL"
	exitOK         = 0
	exitFailed     = 1
	exitBadInput   = 2
	defaultTimeout = 15 * time.Minute
)

func main() {
	// Only the report (and FC's markers) may reach stdout: see quietStdout.
	stdout := quietStdout()
	log := newLogger(os.Getenv(envLogLevel))
	defer func() { _ = log.Sync() }()
	opts, err := parseFlags(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		// The one output on stderr that is not a log line: people asked for it.
		fmt.Fprint(os.Stderr, helpText)
		return
	case err != nil:
		os.Exit(refuse(log, stdout, fmt.Sprintf("the command line: %v (usage: %s)", err, usage)))
	case opts.version:
		fmt.Fprintln(stdout, versionText())
		return
	case opts.check:
		os.Exit(check(log, opts, os.Stdin, stdout))
	}
	if opts.event == "" && os.Getenv(envRuntimeAPI) != "" {
		// The runtime SDK logs through the standard logger: make those lines JSON too.
		defer zap.RedirectStdLog(log)()
		fc.Start(handler(newRotator(log), log))
		return
	}
	if opts.event == "" {
		os.Exit(refuse(log, stdout, "the command line: -event is required outside Function Compute (usage: "+usage+")"))
	}
	os.Exit(runOnce(log, newRotator(log), opts, os.Stdin, stdout))
}

// newRotator loads the configuration once per instance; an error is kept
// and returned by every invocation, which then writes nothing.
func newRotator(log *zap.Logger) *rotation.Rotator {
	// The same loading as `main -check` (catalog.Check) judges.
	cfg, opts, err := catalog.Load(os.Getenv)
	var r *rotation.Rotator
	if err == nil {
		r = rotation.New(cfg, nil, log, opts)
		err = r.ConfigError()
	}
	if err != nil {
		log.Error("configuration refused", zap.String("code", string(rotation.CodeOf(err))), zap.Error(err))
		return rotation.New(nil, err, log, rotation.Options{})
	}
	log.Info("configuration loaded", zap.Int("targets", len(cfg.Targets)), zap.Duration("freshness", cfg.Freshness.Duration),
		zap.Int("quotaCalls", cfg.Quota.Calls), zap.Duration("quotaPer", cfg.Quota.Per.Duration))
	return r
}

// RotationFailed is the invocation's error when any secret failed: its text
// is the report, so FC's async retries and failure destination carry it,
// cut to what a destination takes (rotation.Report.Summary).
type RotationFailed struct{ Report json.RawMessage }

func (e *RotationFailed) Error() string { return string(e.Report) }

func handler(r *rotation.Rotator, log *zap.Logger) func(context.Context, json.RawMessage) (json.RawMessage, error) {
	return func(ctx context.Context, event json.RawMessage) (json.RawMessage, error) {
		inv := rotation.Invocation{Event: event, Credentials: envCredentials()}
		if fctx, ok := fccontext.FromContext(ctx); ok {
			inv.RequestID, inv.RetryCount = fctx.RequestID, fctx.RetryCount
			if c := fctx.Credentials; c.AccessKeyId != "" && c.AccessKeySecret != "" {
				inv.Credentials = rotation.Credentials{AccessKeyID: c.AccessKeyId, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}
			}
		}
		if inv.RequestID == "" {
			inv.RequestID = newRequestID()
		}
		rep := r.Run(ctx, inv)
		if !rep.OK() {
			msg, cut := rep.Summary(rotation.FailureMessageLimit)
			if cut {
				log.Warn("the error message is the report cut to the failures that fit; every secret has its own line above",
					zap.String("requestId", inv.RequestID), zap.Int("limit", rotation.FailureMessageLimit), zap.Int("results", len(rep.Results)))
			}
			return nil, &RotationFailed{Report: msg}
		}
		return rep.JSON(), nil
	}
}

func envCredentials() rotation.Credentials {
	return rotation.Credentials{AccessKeyID: os.Getenv(envAccessKey), AccessKeySecret: os.Getenv(envSecretKey), SecurityToken: os.Getenv(envToken)}
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "local-" + hex.EncodeToString(b)
}

// newLogger writes JSON lines to stderr: stdout holds only the report.
func newLogger(level string) *zap.Logger {
	lvl := zapcore.InfoLevel
	if level != "" {
		if l, err := zapcore.ParseLevel(level); err == nil {
			lvl = l
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey, enc.EncodeTime = "time", zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stderr), lvl)
	return zap.New(core).With(zap.String("logger", "rotator"))
}
