package launch

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/drover-init/drover/internal/launch/preinit"
)

// The slow path of the exec shim. preinit's initializer, which runs before
// the heavy packages, has already tried the exec; when that failed the
// program gets here, to try once more and explain the failure with the
// same classification and message as a direct start.
func init() {
	if IsShim(os.Environ()) {
		os.Exit(Shim(os.Args, os.Environ(), os.Stderr))
	}
}

// IsShim says whether this process was started as an exec shim.
func IsShim(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, preinit.EnvExec+"=") {
			return true
		}
	}
	return false
}

// Shim execs the user's program with the pid variables set to this
// process's pid, which is the worker's pid since exec keeps it, after
// dropping to the worker's credentials if it was given any. It returns only
// on failure, with the status a shell would give (127 not found, 126 not
// executable or not run as the right user) after writing one line to
// stderr.
func Shim(args, environ []string, stderr io.Writer) int {
	s := preinit.Parse(args, environ, os.Getpid())
	if s.FD >= 3 {
		// Close-on-exec: the pool sees EOF the moment exec succeeds.
		syscall.CloseOnExec(s.FD)
	}
	if s.Cred != "" {
		if err := preinit.DropTo(s.Cred, preinit.OSCreds{}); err != nil {
			// Never run the user's program as the wrong user.
			fmt.Fprintf(stderr, "drover: cannot run %s: %v\n", s.Path, err)
			return 126
		}
	}
	err := startError(s.Path, syscall.Exec(s.Path, s.Args, s.Env))
	fmt.Fprintf(stderr, "drover: %v\n", err)
	return err.ExitCode()
}
