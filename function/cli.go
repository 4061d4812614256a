package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/rotation"
)

const usage = "main -event FILE|- [-timeout DURATION] | main -check | main -version | main -h; inside Function Compute (FC_RUNTIME_API set) no flag is needed"

type cliOptions struct {
	event   string
	timeout time.Duration
	check   bool
	version bool
}

// parseFlags never prints: the caller logs the error as JSON, so that
// every line on stderr is a log line.
func parseFlags(args []string) (cliOptions, error) {
	var o cliOptions
	fs := flag.NewFlagSet("main", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.event, "event", "", "run one invocation with the event in `FILE` (\"-\" for stdin) and print the report; with -check, check the event")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "with -event: the invocation's deadline")
	fs.BoolVar(&o.check, "check", false, "check the configuration and the environment, print what would be rotated")
	fs.BoolVar(&o.version, "version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	if o.timeout <= 0 {
		return o, fmt.Errorf("-timeout must be positive, got %v", o.timeout)
	}
	return o, nil
}

// runOnce runs one invocation of the event in o.event and prints its report.
func runOnce(log *zap.Logger, r *rotation.Rotator, o cliOptions, stdin io.Reader, stdout io.Writer) int {
	event, err := readEvent(o.event, stdin)
	if err != nil {
		return refuse(log, stdout, err.Error())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	rep := r.Run(ctx, rotation.Invocation{RequestID: newRequestID(), Event: event, Credentials: envCredentials(), Origin: eventOrigin(o.event)})
	_, _ = stdout.Write(append(rep.JSON(), '\n'))
	switch {
	case rep.BadInput():
		return exitBadInput
	case !rep.OK():
		return exitFailed
	default:
		return exitOK
	}
}

// eventOrigin names the event in its errors, which give a position in it.
func eventOrigin(file string) string {
	if file == "-" {
		return "stdin"
	}
	return fmt.Sprintf("event file %q", file)
}

// readEvent names the file in its error; the OS error alone repeats the
// path in its own words ("open x: ..."). It reads one byte past the largest
// event, for DecodeEvent to refuse, and never more.
func readEvent(file string, stdin io.Reader) ([]byte, error) {
	src, what := stdin, "the event from stdin"
	if file != "-" {
		what = fmt.Sprintf("the event file %q", file)
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %v", what, osError(err))
		}
		defer f.Close()
		src = f
	}
	b, err := io.ReadAll(io.LimitReader(src, rotation.MaxEventSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", what, osError(err))
	}
	return b, nil
}

func osError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// refuse logs and prints the report of an invocation that could not start
// (the command line or its event was unusable) and returns the exit code.
func refuse(log *zap.Logger, stdout io.Writer, msg string) int {
	rep := &rotation.Report{RequestID: newRequestID(), Results: []rotation.Result{},
		Error: &rotation.ResultError{Code: rotation.InvalidEvent, Message: msg}}
	log.Error("invocation refused", zap.String("requestId", rep.RequestID),
		zap.String("code", string(rotation.InvalidEvent)), zap.String("error", msg))
	_, _ = stdout.Write(append(rep.JSON(), '\n'))
	return exitBadInput
}
