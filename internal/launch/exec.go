package launch

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"github.com/drover-init/drover/internal/launch/preinit"
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
	// Sh, when set, is a POSIX shell used as the shim where that is safe
	// (see shSafe): it starts in about a third of the time of drover.
	Sh string
	// Lock is held from fork until the pid is known (the reaper's fork lock).
	Lock sync.Locker
	// Credential, when set, is who the workers run as. With a Shim, the
	// shim starts with drover's own credentials (so drover's binary need
	// not be executable by that user) and drops to these before exec.
	Credential *syscall.Credential
	// OOM, when set, is the oom_score_adj of drover and of its workers
	// (see PlanOOM). A worker has its score before its program runs, so
	// nothing the program forks escapes it.
	OOM *OOMPlan
	// Foreground hands the controlling terminal on fd 0 to the worker's
	// process group, as tini does, so an interactive child can read it.
	Foreground bool
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
}

// Start forks the worker. Exit statuses are never collected here: the reaper
// owns wait4, and the os.Process is released at once. A failure is an
// *Error wrapping the errno (see Transient and StartError).
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
	oom := x.OOM != nil && x.OOM.Worker != x.OOM.Drover
	done := make(chan struct{})
	var w *os.File
	if x.Shim != "" {
		r, pw, err := os.Pipe()
		if err != nil {
			// Out of descriptors, most likely: an *Error, so the pool
			// sees it as transient.
			return Process{}, &Error{Path: x.Path, Err: fmt.Errorf("exec shim pipe: %w", err)}
		}
		w = pw
		fd := 3 + len(files)
		cmd.ExtraFiles = append(append([]*os.File(nil), files...), w)
		ok, unsetPWD := shSafe(env, x.Args, x.Path, x.PidVars, fd, x.Credential != nil)
		if oom && x.Credential != nil && x.OOM.Worker < x.OOM.Drover {
			ok = false // a shell already running as the user may not lower its score
		}
		if x.Sh != "" && ok {
			// The shell runs as the worker's user, like a direct start,
			// and execs argv[0] as the user typed it.
			cmd.Path = x.Sh
			var script string
			if oom {
				script = shOOM(x.OOM.Worker)
			}
			script += shScript(x.PidVars, fd, unsetPWD)
			cmd.Args = append([]string{"sh", "-c", script}, x.Args...)
		} else {
			cmd.Path = x.Shim
			cmd.Env = append(append(make([]string, 0, len(env)+8), env...), preinit.ShimEnv(env, x.Path, x.PidVars, fd)...)
			if x.Credential != nil {
				cmd.SysProcAttr.Credential = nil
				cmd.Env = append(cmd.Env, preinit.EnvCred+"="+preinit.EncodeCred(x.Credential))
			}
			if oom {
				cmd.Env = append(cmd.Env, preinit.EnvOOM+"="+strconv.Itoa(x.OOM.Worker))
			}
		}
		// The shim's end is close-on-exec in the worker's program, so EOF
		// here means the shim has exec'd (or exited trying).
		go func() {
			defer close(done)
			defer r.Close()
			_, _ = io.Copy(io.Discard, r)
		}()
	} else {
		close(done) // os/exec returns from Start only once the exec succeeded
		if oom {
			// No shim runs before the program: the child gets the worker's
			// score by inheriting it at fork. drover holds it from here until
			// the program has started (os/exec returns after the exec), a
			// fraction of a millisecond in which the OOM killer would weigh
			// drover like a worker. Errors are ignored: drover checked at
			// start that it may write its score.
			_ = writeOOM(ownOOMFile, x.OOM.Worker)
			defer func() { _ = writeOOM(ownOOMFile, x.OOM.Drover) }()
		}
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
		return Process{}, startError(cmd.Path, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return Process{Pid: pid, Execd: done}, nil
}
