package main

import (
	"encoding/json"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/internal/catalog"
	"github.com/sae-secret-rotator/rotator/rotation"
)

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
