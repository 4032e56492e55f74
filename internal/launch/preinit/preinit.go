// Package preinit is the fast path of drover's exec shim: drover
// re-executed as a worker to set LISTEN_PID and WATCHDOG_PID to the
// worker's own pid (unknown before fork) and exec the user's program.
//
// It runs in a package initializer that imports nothing but os and
// syscall: Go initializes packages in import-path order as soon as their
// imports are ready, so this one runs before the metrics, protobuf and YAML
// packages a supervisor needs, and a worker start through the shim does not
// pay for them. Even strings and strconv would delay it behind all of those
// (they sort after them and are initialized in that order), hence the small
// helpers in text.go. Only success is handled here; on any failure of exec the
// initializer returns and package launch, initialized later, redoes the
// exec and explains the failure. A failed change of credentials is final
// here: the user's program must never run as the wrong user.
package preinit

import (
	"os"
	"syscall"
)

// The protocol between drover and the shim, in the environment. The names
// start with an underscore so they are never mistaken for configuration;
// the shim removes them before the user's program runs.
const (
	EnvExec    = "_DROVER_SHIM_EXEC"    // the program to exec
	EnvPidVars = "_DROVER_SHIM_PIDVARS" // comma-separated names set to the pid
	EnvExecFD  = "_DROVER_SHIM_FD"      // made close-on-exec: EOF tells drover exec happened
	EnvCred    = "_DROVER_SHIM_CRED"    // uid:gid:groups to drop to (see EncodeCred)
	EnvOOM     = "_DROVER_SHIM_OOM"     // the worker's oom_score_adj
	// The shim runs with GOMAXPROCS=1, which spares the Go runtime reading
	// the cgroup CPU limit from /proc (a quarter of a millisecond); this
	// carries the user's own GOMAXPROCS, if any, to restore before exec.
	EnvGomaxprocs = "_DROVER_SHIM_GOMAXPROCS"
)

// ShimEnv is what the shim's environment adds to env (which it must
// follow, so that its GOMAXPROCS wins).
func ShimEnv(env []string, path string, pidVars []string, fd int) []string {
	out := []string{EnvExec + "=" + path, EnvPidVars + "=" + join(pidVars, ','), EnvExecFD + "=" + itoa(fd), "GOMAXPROCS=1"}
	for _, kv := range env {
		if k, v := cut(kv, '='); k == "GOMAXPROCS" {
			out = append(out, EnvGomaxprocs+"="+v) // the last one is what the program would see
		}
	}
	return out
}

func init() {
	if _, ok := syscall.Getenv(EnvExec); !ok {
		return
	}
	s := Parse(os.Args, os.Environ(), os.Getpid())
	if s.FD >= 3 {
		syscall.CloseOnExec(s.FD)
	}
	if s.OOM != "" {
		// Before the exec, so that nothing the program forks escapes it,
		// and before dropping privileges: /proc/self stops being writable
		// after a setuid, and a score below drover's needs its capability.
		if err := setOOM(s.OOM); err != nil {
			os.Stderr.WriteString("drover: cannot set the oom_score_adj of worker " + itoa(os.Getpid()) + " to " + escape(s.OOM) + ": " + escape(err.Error()) + "\n")
		}
		syscall.Unsetenv(EnvOOM) // done: package launch must not try again
	}
	if s.Cred != "" {
		if err := DropTo(s.Cred, OSCreds{}); err != nil {
			os.Stderr.WriteString("drover: cannot run " + escape(s.Path) + ": " + escape(err.Error()) + "\n")
			os.Exit(126)
		}
		// Done: package launch, which explains a failed exec, must not try again.
		syscall.Unsetenv(EnvCred)
	}
	_ = syscall.Exec(s.Path, s.Args, s.Env)
}

// Shim is what the shim was asked to do.
type Shim struct {
	Path string
	Args []string
	Env  []string // the program's environment: protocol removed, pid set
	FD   int      // -1 when none
	Cred string
	OOM  string // oom_score_adj to set, or ""
}

// Parse reads the protocol from the shim's argv and environment.
func Parse(args, environ []string, pid int) Shim {
	s := Shim{FD: -1, Env: make([]string, 0, len(environ))}
	var vars []string
	gomaxprocs, userGomaxprocs := "", false
	for _, kv := range environ {
		k, v := cut(kv, '=')
		switch k {
		case EnvExec:
			s.Path = v
		case EnvPidVars:
			if v != "" {
				vars = split(v, ',')
			}
		case EnvExecFD:
			if n, ok := atoi(v); ok {
				s.FD = n
			}
		case EnvCred:
			s.Cred = v
		case EnvOOM:
			s.OOM = v
		case EnvGomaxprocs:
			gomaxprocs, userGomaxprocs = v, true
		case "GOMAXPROCS":
		default:
			s.Env = append(s.Env, kv)
		}
	}
	if userGomaxprocs {
		s.Env = append(s.Env, "GOMAXPROCS="+gomaxprocs)
	}
	p := utoa(uint64(pid))
	for _, name := range vars {
		s.Env = setenv(s.Env, name, p)
	}
	s.Args = args
	if len(s.Args) == 0 {
		s.Args = []string{s.Path}
	}
	return s
}

// setOOM writes the process's own oom_score_adj.
func setOOM(score string) error {
	fd, err := syscall.Open("/proc/self/oom_score_adj", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	_, err = syscall.Write(fd, []byte(score))
	return err
}

// setenv replaces or appends name=value.
func setenv(env []string, name, value string) []string {
	for i, kv := range env {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}
