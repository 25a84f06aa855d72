package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
)

// Exit codes. Scripts branch on them, so they must not change.
const (
	exitOK          = 0
	exitNo          = 1 // a definite "no": key not found, CAS mismatch, offset out of range
	exitUsage       = 2 // bad flags, arguments or environment; nothing was written
	exitFailure     = 3 // the store failed: I/O, corrupt data, store in use, demo check
	exitInterrupted = 130
)

// app is one run of the binary: its streams, its environment and the
// values of its flags. Tests build one per run, so nothing is global.
type app struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
	logger    *slog.Logger

	local      localConfig    // global flags of "local", filled by cobra and bindEnv
	localFlags *pflag.FlagSet // the persistent flag set of "local"
}

// run executes the command line args and returns the process exit code.
// Errors go to stderr as one "caskade: ..." line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	a := &app{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		lookupEnv: lookupEnv,
		logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	root := a.newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// errors.Join gives one line per error: prefix each.
	for line := range strings.Lines(err.Error()) {
		fmt.Fprintf(stderr, "caskade: %s", line)
	}
	fmt.Fprintln(stderr)
	return exitCode(err)
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "caskade",
		Short: "caskade is a Bitcask-style key-value store over an ordered commit log",
		Long: `caskade is a Bitcask-style key-value store whose storage is an ordered
commit log: every write gets an offset, the latest record of a key is its
value, and the log can be consumed in order like a Kafka partition.

"caskade serve" runs a server; the client commands (put, get, del, scan,
cas, produce, consume, status, compact, snapshot, bench) talk to it at --endpoints
(default 127.0.0.1:7070, or $CASKADE_ENDPOINTS), with -o json for scripts.
"caskade local ..." works on a store in a local directory, without a
server. "caskade certs init" makes the certificates of mutual TLS; client
commands then take --cert, --key and --ca.

Exit codes: 0 success; 1 a definite "no" (key not found, compare-and-swap
mismatch, offset out of range); 2 bad flags, arguments or environment
(nothing was written); 3 the store or the server failed (I/O, corrupt data,
store in use, server unreachable, a demo check failed); 130 interrupted.`,
		SilenceErrors: true, // run prints them, once, as one line
		SilenceUsage:  true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &cliError{code: exitUsage, err: err}
	})
	a.addClientCommands(root)
	root.AddCommand(a.newLocalCmd())
	root.AddCommand(a.newServeCmd())
	root.AddCommand(a.newDevCmd())
	root.AddCommand(a.newCertsCmd())
	return root
}

// cliError is an error with the exit code it should give.
type cliError struct {
	code int
	err  error
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// usageErrorf reports bad input: a flag, argument or variable that cannot
// be used. The message names it.
func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// noErrorf reports a definite negative answer (exit code 1).
func noErrorf(format string, args ...any) error {
	return &cliError{code: exitNo, err: fmt.Errorf(format, args...)}
}

// failuref reports a failure of the store or of a check (exit code 3).
func failuref(format string, args ...any) error {
	return &cliError{code: exitFailure, err: fmt.Errorf(format, args...)}
}

// exitCode maps an error from Execute to an exit code. Errors of the
// commands are classified by runE; anything else came from cobra parsing
// the command line (unknown command or flag, wrong argument count).
func exitCode(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitUsage
}

// classify gives an error returned by a command its exit code. Commands
// turn the errors they expect into clear messages first; this is the
// backstop, matching engine errors and the client's (the server's answers)
// with errors.Is.
func classify(err error) error {
	var ce *cliError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	code := exitFailure
	switch {
	case errors.Is(err, context.Canceled):
		return &cliError{code: exitInterrupted, err: fmt.Errorf("interrupted: %w", err)}
	case errors.Is(err, engine.ErrNotFound),
		errors.Is(err, engine.ErrCASMismatch),
		errors.Is(err, engine.ErrOutOfRange),
		errors.Is(err, client.ErrNotFound),
		errors.Is(err, client.ErrCASMismatch),
		errors.Is(err, client.ErrOutOfRange):
		code = exitNo
	case errors.Is(err, engine.ErrEmptyKey),
		errors.Is(err, engine.ErrKeyTooLarge),
		errors.Is(err, engine.ErrValueTooLarge),
		errors.Is(err, engine.ErrBadRange),
		errors.Is(err, engine.ErrInvalidOptions),
		errors.Is(err, client.ErrInvalidArgument),
		errors.Is(err, client.ErrTooLarge):
		code = exitUsage
	}
	return &cliError{code: code, err: err}
}

// runE wraps a command's RunE so that every error it returns carries an
// exit code.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return classify(fn(cmd, args))
	}
}

// argsNamed validates the positional arguments against their names as the
// usage line spells them: "KEY" is required, "[VALUE]" optional and
// "[VALUE...]" takes any number.
func argsNamed(names ...string) cobra.PositionalArgs {
	minArgs, maxArgs := 0, 0
	for _, n := range names {
		switch {
		case len(n) > 5 && n[len(n)-4:] == "...]":
			maxArgs = -1
		case n[0] == '[':
			maxArgs++
		default:
			minArgs++
			maxArgs++
		}
	}
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < minArgs {
			return usageErrorf("%s: missing argument %s", cmd.Name(), names[len(args)])
		}
		if maxArgs >= 0 && len(args) > maxArgs {
			return usageErrorf("%s: unexpected argument %q (usage: %s)", cmd.Name(), args[maxArgs], cmd.UseLine())
		}
		return nil
	}
}
