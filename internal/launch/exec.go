package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Process is a started worker. Execd is closed once the worker is running
// the user's program (after the exec shim has exec'd it, or failed to):
// signals forwarded before that would reach the shim instead and be lost.
type Process struct {
	Pid   int
	Execd <-chan struct{}
}

// Exec starts workers as real processes, each the leader of its own process
// group so that a stop reaches the worker's own children too.
type Exec struct {
	// Path is the resolved command; Args its argv (Args[0] is what ps shows).
	Path string
	Args []string
	// Shim, when set, is an executable that understands the shim protocol
	// (drover itself, as "/proc/self/exe"): it sets PidVars to its own pid
	// and execs Path. Needed for LISTEN_PID, which must equal the worker's
	// pid, a number unknown before fork.
	Shim    string
	PidVars []string
	// Lock is held from fork until the pid is known (the reaper's fork lock).
	Lock sync.Locker
	// Credential, when set, is who the workers run as.
	Credential *syscall.Credential
	// Foreground hands the controlling terminal on fd 0 to the worker's
	// process group, as tini does, so an interactive child can read it.
	Foreground bool
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
}

// Start forks the worker. Exit statuses are never collected here: the reaper
// owns wait4, and the os.Process is released at once.
func (x *Exec) Start(env []string, files []*os.File) (Process, error) {
	cmd := &exec.Cmd{
		Path:       x.Path,
		Args:       x.Args,
		Env:        env,
		Stdin:      x.Stdin,
		Stdout:     x.Stdout,
		Stderr:     x.Stderr,
		ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:    true,
			Credential: x.Credential,
			Foreground: x.Foreground,
		},
	}
	done := make(chan struct{})
	var w *os.File
	if x.Shim != "" {
		r, pw, err := os.Pipe()
		if err != nil {
			return Process{}, fmt.Errorf("exec shim pipe: %w", err)
		}
		w = pw
		fd := 3 + len(files)
		cmd.Path = x.Shim
		cmd.ExtraFiles = append(append([]*os.File(nil), files...), w)
		cmd.Env = append(append([]string(nil), env...),
			envExec+"="+x.Path,
			envPidVars+"="+strings.Join(x.PidVars, ","),
			envExecFD+"="+strconv.Itoa(fd))
		// The shim's end is close-on-exec in the worker's program, so EOF
		// here means the shim has exec'd (or exited trying).
		go func() {
			defer close(done)
			defer r.Close()
			_, _ = io.Copy(io.Discard, r)
		}()
	} else {
		close(done) // os/exec returns from Start only once the exec succeeded
	}
	if x.Lock != nil {
		x.Lock.Lock()
	}
	err := cmd.Start()
	if x.Lock != nil {
		x.Lock.Unlock()
	}
	if w != nil {
		w.Close()
	}
	if err != nil {
		return Process{}, err
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return Process{Pid: pid, Execd: done}, nil
}

// StartError turns a failure to start the program into the shell's status
// for it: 127 when it does not exist, 126 when it cannot be executed.
func StartError(err error) int {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOTDIR) {
		return 127
	}
	return 126
}

// SealFDs marks every descriptor above stderr close-on-exec, so that what
// drover itself inherited (from a container runtime, a shell, a test
// runner) never leaks into a worker: workers get stdio and exactly the
// sockets they are handed.
func SealFDs() error {
	const sysCloseRange, closeRangeCloexec = 436, 4
	if _, _, e := syscall.Syscall(sysCloseRange, 3, ^uintptr(0), closeRangeCloexec); e == 0 {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing open fds: %w", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}
