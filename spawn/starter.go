package spawn

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Process is a started worker. Execd is closed once the worker is running
// the user's program (nil: it already is).
type Process struct {
	Pid   int
	Execd <-chan struct{}
}

// Starter starts one worker. The pool owns when and why; a Starter owns how
// (main adapts internal/launch to it).
type Starter interface {
	Start(env []string, files []*os.File) (Process, error)
}

// Transient says a start failed for lack of resources (processes,
// descriptors, memory), not because of the command: worth retrying.
func Transient(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EMFILE) ||
		errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM)
}

// StartError turns a failure to start the program into the shell's status
// for it: 127 when it does not exist, 126 when it cannot be executed.
func StartError(err error) int {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOTDIR) {
		return 127
	}
	return 126
}
