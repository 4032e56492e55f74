package launch

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The exec shim protocol between the pool and drover re-executed as a
// worker. The names start with an underscore so they are never mistaken for
// configuration, and the shim removes them before the user's program runs.
const (
	envExec    = "_DROVER_SHIM_EXEC"
	envPidVars = "_DROVER_SHIM_PIDVARS"
	envExecFD  = "_DROVER_SHIM_FD"
)

// IsShim says whether this process was started as an exec shim.
func IsShim(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, envExec+"=") {
			return true
		}
	}
	return false
}

// Shim execs the user's program with the pid variables set to this
// process's pid, which is the worker's pid since exec keeps it. It returns
// only on failure, with the status a shell would give (127 not found, 126
// not executable) after writing one line to stderr.
func Shim(args, environ []string, stderr io.Writer) int {
	pid := strconv.Itoa(os.Getpid())
	var path string
	var vars []string
	fd := -1
	env := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case envExec:
			path = v
		case envPidVars:
			if v != "" {
				vars = strings.Split(v, ",")
			}
		case envExecFD:
			if n, err := strconv.Atoi(v); err == nil {
				fd = n
			}
		default:
			env = append(env, kv)
		}
	}
	for _, name := range vars {
		env = setenv(env, name, pid)
	}
	if fd >= 3 {
		// Close-on-exec: the pool sees EOF the moment exec succeeds.
		syscall.CloseOnExec(fd)
	}
	if len(args) == 0 {
		args = []string{path}
	}
	err := syscall.Exec(path, args, env)
	fmt.Fprintf(stderr, "drover: cannot run %s: %v\n", path, err)
	return StartError(err)
}

// setenv replaces or appends name=value.
func setenv(env []string, name, value string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}
