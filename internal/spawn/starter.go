package spawn

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Process is a started worker. Execd is closed once the worker is running
// the user's program: signals forwarded before that are held.
type Process struct {
	Pid   int
	Execd <-chan struct{}
}

// Starter starts one worker. The pool owns when and why; a Starter owns how
// (main adapts internal/launch to it).
type Starter interface {
	Start(env []string, files []*os.File) (Process, error)
}

// StartError turns a failure to start the program into the shell's status
// for it: 127 when it does not exist, 126 when it cannot be executed.
func StartError(err error) int {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOTDIR) {
		return 127
	}
	return 126
}

// Kill signals a worker's whole process group, falling back to the worker
// alone if it left its group (setsid, daemon-style apps).
func Kill(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = syscall.Kill(pid, sig)
	}
	return err
}
