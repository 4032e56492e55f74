// Command drover is a container entrypoint: a correct PID 1 that runs the
// user's command as a pool of workers sized from the container's CPU budget.
// See README.md for the contract and docs/design.md for how it is built.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"

	"github.com/drover-init/drover/internal/config"
	"github.com/drover-init/drover/internal/launch"
	"github.com/drover-init/drover/internal/logging"
	"github.com/drover-init/drover/listener"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

const usageText = `usage:
  drover [-v] [--] CMD [ARGS...]  run CMD as the worker pool (or as a plain init);
                                  -v (--verbose) adds drover's debug log lines
  drover status                   table of workers from a running drover
  drover probe livez|readyz       exit 0 if the endpoint answers 200 (HEALTHCHECK)
  drover --version | --help

Plain init (like tini) unless DROVER_LISTEN or DROVER_WORKERS is set.
`

// run is drover; its result is the exit code. Only main calls os.Exit.
func run(args []string, stdout, stderr io.Writer) int {
	// The workers' environment is drover's as it was given: config.Load
	// removes blank DROVER_* values from drover's own.
	environ := os.Environ()
	verbose := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "--help", "-h":
			fmt.Fprint(stdout, usageText+"\nEnvironment:\n")
			config.Usage(stdout)
			return 0
		case "--version":
			fmt.Fprintln(stdout, "drover", buildVersion())
			return 0
		case "-v", "-vv", "-vvv", "--verbose":
			// tini's and dumb-init's flag: more of drover's own log lines.
			verbose = true
			args = args[1:]
			continue
		case "--":
			args = args[1:]
		default:
			startError(config.StartLogFormat(), stderr,
				fmt.Errorf("unknown option %s (drover --help lists the options; put -- before a command that starts with -)", args[0]))
			return 2
		}
		break
	}
	if len(args) == 0 {
		logging.WriteBounded(stderr, []byte("drover: no command given\n"+usageText), logging.FlushTimeout)
		return 2
	}
	switch args[0] {
	case "status":
		return statusCmd(args[1:], stdout, stderr)
	case "probe":
		return probeCmd(args[1:], stdout, stderr)
	}
	s, err := config.Load()
	if err != nil {
		startError(config.StartLogFormat(), stderr, err)
		return 2
	}
	// DROVER_LISTEN's items are listener's syntax; a bad one is a bad value
	// like any other, refused before anything starts.
	listen, err := listener.Parse(string(s.Listen))
	if err != nil {
		startError(s.LogFormat, stderr, err)
		return 2
	}
	if verbose {
		s.LogLevel = config.LogLevel(slog.LevelDebug)
	}
	if s.User.Credential != nil {
		// Only now: a user that is drover itself needs no privilege, any
		// other needs CAP_SETUID/CAP_SETGID, which no value can show.
		cred, err := launch.CheckUser(s.User.Credential, "/proc/self/status")
		if err != nil {
			startError(s.LogFormat, stderr, config.Invalid("DROVER_USER", err.Error()))
			return 2
		}
		s.User.Credential = cred
	}
	path, err := launch.LookPath(args[0], environ)
	if err != nil {
		code := 126
		var le *launch.Error
		if errors.As(err, &le) {
			code = le.ExitCode()
		}
		what := "command not found"
		if code == 126 {
			what = "command cannot be executed"
		}
		_, hasPath := os.LookupEnv("PATH")
		switch {
		case errors.Is(err, exec.ErrNotFound) && !hasPath:
			err = fmt.Errorf("%s: %s (PATH is unset: looked in %s)", args[0], what, launch.DefaultPath)
		case errors.Is(err, exec.ErrNotFound):
			err = fmt.Errorf("%s: %s (check the name and PATH)", args[0], what)
		default:
			err = fmt.Errorf("%s: %s: %w", args[0], what, errors.Unwrap(err))
		}
		startError(s.LogFormat, stderr, err)
		return code
	}
	return supervise(s, listen, path, args, environ, stderr)
}
