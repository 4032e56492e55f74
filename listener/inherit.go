package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenFDsStart is SD_LISTEN_FDS_START.
const listenFDsStart = 3

// inherited is what drover itself received through LISTEN_*. When it was
// not meant for drover, n is 0 and why says so for fd:// errors.
type inherited struct {
	n     int
	names []string // nil when LISTEN_FDNAMES is unset
	why   string
}

func readInherited(opt Options) inherited {
	lookup := opt.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	pid := opt.Pid
	if pid == 0 {
		pid = os.Getpid()
	}
	ps, ok := lookup("LISTEN_PID")
	if !ok {
		return inherited{why: "LISTEN_PID is not set: drover was not given sockets (is it socket-activated?)"}
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p != pid {
		return inherited{why: fmt.Sprintf("LISTEN_PID=%q is not drover's pid %d: the sockets were meant for another process", ps, pid)}
	}
	ns, _ := lookup("LISTEN_FDS")
	n, err := strconv.Atoi(ns)
	if err != nil || n < 0 || n > 1<<16 {
		return inherited{why: fmt.Sprintf("LISTEN_FDS=%q is not a count of sockets", ns)}
	}
	in := inherited{n: n}
	if n == 0 {
		in.why = "LISTEN_FDS=0: drover was given no sockets"
	}
	if v, ok := lookup("LISTEN_FDNAMES"); ok {
		in.names = strings.Split(v, ":")
	}
	return in
}

// closeOnExec keeps every inherited descriptor out of workers: the ones
// DROVER_LISTEN uses are re-passed explicitly, the rest are not theirs.
// Descriptors that are not open are skipped.
func (in inherited) closeOnExec() {
	for fd := listenFDsStart; fd < listenFDsStart+in.n; fd++ {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
		}
	}
}

// resolve maps fd://N or fd://NAME to the inherited descriptor number.
func (in inherited) resolve(sp Spec) (int, error) {
	if in.n == 0 {
		return -1, fmt.Errorf("DROVER_LISTEN: %s: no inherited sockets: %s", sp, in.why)
	}
	last := listenFDsStart + in.n - 1
	if sp.FDName == "" {
		if sp.FD > last {
			return -1, fmt.Errorf("DROVER_LISTEN: %s: drover inherited LISTEN_FDS=%d sockets, fds %d-%d", sp, in.n, listenFDsStart, last)
		}
		return sp.FD, nil
	}
	if in.names == nil {
		return -1, fmt.Errorf("DROVER_LISTEN: %s: LISTEN_FDNAMES is not set, so inherited sockets have no names; use fd://N", sp)
	}
	if len(in.names) != in.n {
		return -1, fmt.Errorf("DROVER_LISTEN: %s: LISTEN_FDNAMES has %d names for LISTEN_FDS=%d", sp, len(in.names), in.n)
	}
	fd := -1
	for i, name := range in.names {
		if name != sp.FDName {
			continue
		}
		if fd >= 0 {
			return -1, fmt.Errorf("DROVER_LISTEN: %s: LISTEN_FDNAMES names both fd %d and fd %d %q; use fd://N", sp, fd, listenFDsStart+i, sp.FDName)
		}
		fd = listenFDsStart + i
	}
	if fd < 0 {
		return -1, fmt.Errorf("DROVER_LISTEN: %s: no inherited socket is named %q (LISTEN_FDNAMES=%q)", sp, sp.FDName, strings.Join(in.names, ":"))
	}
	return fd, nil
}

// adopt checks that fd is a listening socket and returns a close-on-exec,
// blocking duplicate owned by the Set. Duplicating leaves the inherited
// number in place, so a second Open, or anything else that trusts
// LISTEN_FDS, never meets a closed or reused descriptor.
func adopt(sp Spec, fd int) (int, int, error) {
	listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	switch {
	case errors.Is(err, unix.EBADF):
		return -1, 0, fmt.Errorf("DROVER_LISTEN: %s: fd %d is not open: %w", sp, fd, err)
	case errors.Is(err, unix.ENOTSOCK):
		return -1, 0, fmt.Errorf("DROVER_LISTEN: %s: fd %d is not a socket: %w", sp, fd, err)
	case err != nil:
		return -1, 0, fmt.Errorf("DROVER_LISTEN: %s: fd %d: %w", sp, fd, os.NewSyscallError("getsockopt SO_ACCEPTCONN", err))
	case listening == 0:
		return -1, 0, fmt.Errorf("DROVER_LISTEN: %s: fd %d is not a listening socket (systemd passes one for ListenStream= with Accept=no): %w",
			sp, fd, unix.EINVAL)
	}
	sotype, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return -1, 0, fmt.Errorf("DROVER_LISTEN: %s: fd %d: %w", sp, fd, os.NewSyscallError("getsockopt SO_TYPE", err))
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, listenFDsStart)
	if err != nil {
		return -1, 0, openError(sp, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err))
	}
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return -1, 0, fmt.Errorf("DROVER_LISTEN: %s: %w", sp, os.NewSyscallError("fcntl O_NONBLOCK", err))
	}
	return nfd, sotype, nil
}

// Named is a socket a process was handed, with its LISTEN_FDNAMES name.
type Named struct {
	Name string
	net.Listener
}

// Listeners returns the sockets this process was handed through socket
// activation (by drover, or by systemd), in fd order (3, 4, …): what a Go
// worker under drover uses instead of net.Listen. There are none when
// LISTEN_PID is not this process: the sockets were meant for another.
// Each descriptor is replaced by a close-on-exec duplicate, so the worker's
// own children do not hold the socket open.
func Listeners() ([]Named, error) {
	in := readInherited(Options{})
	out := make([]Named, 0, in.n)
	for i := range in.n {
		name := fmt.Sprintf("fd-%d", listenFDsStart+i)
		if i < len(in.names) {
			name = in.names[i]
		}
		f := os.NewFile(uintptr(listenFDsStart+i), name)
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("inherited fd %d (%s): %w", listenFDsStart+i, name, err)
		}
		out = append(out, Named{Name: name, Listener: l})
	}
	return out, nil
}
