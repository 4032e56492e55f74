// Package sockwait tells, from /proc alone, whether a process tree waits
// for connections on given listening sockets: the readiness of a server
// that needs nothing from it (DROVER_READY=listening).
//
// A server waits for connections in one of a few ways, each visible in
// /proc of the waiting process:
//
//   - an event loop (Node/libuv, Go, Python asyncio, nio4r): the socket is
//     in an epoll interest list, which /proc/PID/fdinfo/<epoll fd> lists as
//     "tfd: … ino:" lines;
//   - a blocking accept (C, Python's socket.accept, a thread per socket):
//     a thread blocked in accept or accept4 on it, from
//     /proc/PID/task/TID/syscall;
//   - poll or select (Python's socketserver, gunicorn's sync workers, Ruby's
//     IO.select): a thread blocked in poll, ppoll, select or pselect6 whose
//     fd set, read from /proc/PID/mem, holds the socket.
//
// Sockets are compared by inode, so a socket the server dup'ed (uvicorn's
// fromfd, Go's FileListener) is still recognised. Only the tree of the
// given pid is read (its descendants through /proc/PID/task/TID/children),
// never all of /proc, so a check costs the same on a host with thousands
// of processes.
//
// The fd links, fdinfo, syscall and mem files need ptrace access to the
// process. drover is root and the worker's ancestor, but a worker running
// as another user while drover lacks CAP_SYS_PTRACE (Docker's default
// capabilities) is out of reach for root's own credentials: those checks
// use the filesystem uid and gid, so such a process is read from a locked
// OS thread whose fsuid and fsgid are the process's own (see creds.go).
package sockwait

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxProcs bounds the processes one check visits: a fork bomb inside a
// starting worker must not turn a readiness check into a long walk.
const maxProcs = 1024

// Socket identifies a listening socket by its inode, the way epoll's fdinfo
// and /proc/PID/fd links name it.
type Socket struct {
	Ino uint64
	// Major and Minor are the device of the socket filesystem; zero
	// matches any (fixtures).
	Major, Minor uint32
	// Port is the TCP port, 0 for other sockets: it names the socket in
	// explanations and finds servers that bound the port themselves.
	Port int
}

// Of identifies f, one of drover's listening sockets.
func Of(f *os.File) (Socket, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return Socket{}, fmt.Errorf("identifying socket %s: %w", f.Name(), err)
	}
	s := Socket{Ino: st.Ino, Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev)}
	if sa, err := unix.Getsockname(int(f.Fd())); err == nil {
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			s.Port = a.Port
		case *unix.SockaddrInet6:
			s.Port = a.Port
		}
	}
	return s, nil
}

// How says how a process was found waiting.
type How string

const (
	Epoll  How = "epoll"
	Accept How = "accept"
	Poll   How = "poll"
	Select How = "select"
)

// Result is what one check found.
type Result struct {
	// Listening: Pid waits for connections on one of the sockets, as How.
	Listening bool
	Pid       int
	How       How
	// Shell: not listening, and the worker itself is a shell (sh, bash, …)
	// with a descendant holding one of the sockets: it ran the server
	// without exec, so LISTEN_PID is the shell's pid and servers that check
	// it (gunicorn, puma) ignore the socket.
	Shell bool
}

// Checker reads one proc filesystem.
type Checker struct {
	root string
	arch *arch
	// switchCreds: drover is root without CAP_SYS_PTRACE, so processes of
	// other users are read with their own filesystem credentials.
	switchCreds bool
	bufs        sync.Pool // *[]byte for file contents
}

// New reads procRoot ("/proc", or a fixture tree) with the system call
// numbers of the architecture drover runs on.
func New(procRoot string) (*Checker, error) {
	return NewArch(procRoot, runtime.GOARCH)
}

// NewArch is New for processes of another architecture (GOARCH names):
// tests decode fixtures of every architecture on any machine.
func NewArch(procRoot, goarch string) (*Checker, error) {
	st, err := os.Stat(procRoot)
	if err != nil {
		return nil, fmt.Errorf("reading readiness from %s: %w", procRoot, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("reading readiness from %s: not a directory", procRoot)
	}
	a := archs[goarch]
	if a == nil {
		a = fallback(goarch)
	}
	c := &Checker{root: procRoot, arch: a}
	c.switchCreds = os.Geteuid() == 0 && !hasCap(unix.CAP_SYS_PTRACE)
	c.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return c, nil
}

// Check looks for a process of pid's tree waiting for connections on one
// of socks. A process that exits during the walk is skipped (not
// listening); an error means the worker itself could not be read (no
// ptrace access): readiness cannot be told this way.
func (c *Checker) Check(pid int, socks []Socket) (Result, error) {
	var res Result
	held := false // some process of the tree holds one of the sockets
	var rootErr error
	kids, err := c.walk(pid, func(p int, d *procDir, tids []string) bool {
		info, err := c.inspect(d, tids, socks, true)
		if err != nil {
			if p == pid {
				rootErr = err
			}
			return true
		}
		if info.how != "" {
			res = Result{Listening: true, Pid: p, How: info.how}
			return false
		}
		held = held || info.holds
		return true
	})
	if err == nil {
		err = rootErr
	}
	if res.Listening {
		return res, nil
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return res, nil // gone: the reaper will say so
		}
		return res, err
	}
	res.Shell = held && len(kids) > 0 && isShell(c.comm(pid))
	return res, nil
}
