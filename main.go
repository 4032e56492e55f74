// Command drover is a container entrypoint: a correct PID 1 that runs the
// user's command as a pool of workers sized from the container's CPU budget.
// See README.md and the design in the repository for the contract.
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

	"github.com/drover-init/drover/internal/launch"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
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
func run(args, environ []string, stdout, stderr io.Writer) int {
	verbose := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "--help", "-h":
			fmt.Fprint(stdout, usageText+"\nEnvironment:\n")
			Usage(stdout)
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
			fmt.Fprintf(stderr, "drover: unknown option %s (drover --help lists the options; put -- before a command that starts with -)\n", args[0])
			return 2
		}
		break
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, "drover: no command given\n"+usageText)
		return 2
	}
	switch args[0] {
	case "status":
		return statusCmd(args[1:], environ, stdout, stderr)
	case "probe":
		return probeCmd(args[1:], environ, stdout, stderr)
	}
	s, err := LoadConfig(environ)
	if err != nil {
		startError(startLogFormat(environ), stderr, err)
		return 2
	}
	if verbose {
		s.LogLevel = slog.LevelDebug
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		code := launch.StartError(err)
		what := "command not found"
		if code == 126 {
			what = "command cannot be executed"
		}
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%s: %s (check the name and PATH)", args[0], what)
		} else {
			err = fmt.Errorf("%s: %s: %w", args[0], what, errors.Unwrap(err))
		}
		startError(s.LogFormat, stderr, err)
		return code
	}
	return supervise(s, path, args, environ, stderr)
}
