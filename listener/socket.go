package listener

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/drover-init/drover/internal/kfile"
	"golang.org/x/sys/unix"
)

// defaultBacklog is the deepest accept queue the kernel grants, so clients
// wait rather than fail while every worker is being replaced. listen(2)
// silently caps larger values at somaxconn, so asking for more is pointless.
func defaultBacklog() int {
	if n := readSysctlInt("/proc/sys/net/core/somaxconn"); n > 0 {
		return n
	}
	return 4096
}

func readSysctlInt(p string) int {
	b, err := kfile.Read(p, 64)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// tcpTarget is where a TCP spec binds; reuseport slots after the first reuse
// the first slot's actual address so a kernel-chosen port is shared.
type tcpTarget struct {
	family int
	sa     unix.Sockaddr
	v6only int // IPV6_V6ONLY value; 0 makes [::] accept IPv4 too
}

func resolveTCP(sp Spec) (tcpTarget, error) {
	if sp.Host == "" {
		return tcpTarget{unix.AF_INET6, &unix.SockaddrInet6{Port: sp.Port}, 0}, nil
	}
	ip, err := netip.ParseAddr(sp.Host)
	if err != nil {
		ta, rerr := net.ResolveTCPAddr("tcp", net.JoinHostPort(sp.Host, strconv.Itoa(sp.Port)))
		if rerr != nil {
			return tcpTarget{}, fmt.Errorf("DROVER_LISTEN: %s: cannot resolve host %q: %w", sp, sp.Host, rerr)
		}
		ip = ta.AddrPort().Addr()
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return tcpTarget{unix.AF_INET, &unix.SockaddrInet4{Port: sp.Port, Addr: ip.As4()}, 0}, nil
	}
	sa := &unix.SockaddrInet6{Port: sp.Port, Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if n, err := strconv.Atoi(z); err == nil {
			sa.ZoneId = uint32(n)
		} else if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else {
			return tcpTarget{}, fmt.Errorf("DROVER_LISTEN: %s: no network interface %q for the IPv6 zone: %w", sp, z, err)
		}
	}
	v6only := 1
	if ip.IsUnspecified() {
		v6only = 0
	}
	return tcpTarget{unix.AF_INET6, sa, v6only}, nil
}

// listenTCP binds sp. An empty host falls back to IPv4 when the kernel has
// no IPv6, because ":8080" must work in every container.
func listenTCP(sp Spec, t tcpTarget, reusePort bool, backlog int) (int, tcpTarget, error) {
	fd, err := tcpSocket(t, reusePort, backlog)
	if sp.Host == "" && t.family == unix.AF_INET6 &&
		(errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EADDRNOTAVAIL)) {
		t = tcpTarget{unix.AF_INET, &unix.SockaddrInet4{Port: sp.Port}, 0}
		fd, err = tcpSocket(t, reusePort, backlog)
	}
	if err != nil {
		return -1, t, openError(sp, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, t, openError(sp, os.NewSyscallError("getsockname", err))
	}
	t.sa = sa
	return fd, t, nil
}

func tcpSocket(t tcpTarget, reusePort bool, backlog int) (int, error) {
	fd, err := unix.Socket(t.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		err = os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	if err == nil && t.family == unix.AF_INET6 {
		if err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, t.v6only); err != nil {
			err = os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	if err == nil && reusePort {
		if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			err = os.NewSyscallError("setsockopt SO_REUSEPORT", err)
		}
	}
	if err == nil {
		err = bindListen(fd, t.sa, backlog)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// bindListen keeps bind's errno bare (not wrapped in a SyscallError) for
// the cases openError explains, so the message reads "address already in
// use (…)" rather than "bind: address already in use (…)". A negative
// backlog only binds (see checkFree).
func bindListen(fd int, sa unix.Sockaddr, backlog int) error {
	if err := unix.Bind(fd, sa); err != nil {
		switch err {
		case unix.EADDRINUSE, unix.EACCES, unix.EADDRNOTAVAIL:
			return err
		}
		return os.NewSyscallError("bind", err)
	}
	if backlog < 0 {
		return nil
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	return nil
}

// checkFree fails with EADDRINUSE if anything listens on sp's address.
// SO_REUSEPORT alone would let drover join a port that another process of
// the same user holds with SO_REUSEPORT (a second drover, an old one still
// draining) and silently split the traffic with it; a plain bind, not
// listening and closed at once, conflicts with any listener.
func checkFree(sp Spec, t tcpTarget) error {
	if sp.Port == 0 {
		return nil // the kernel picks a free port
	}
	fd, _, err := listenTCP(sp, t, false, -1)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// openError says what a user can do about a failed bind; it wraps the errno
// so callers can still test it with errors.Is.
func openError(sp Spec, err error) error {
	hint := ""
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		hint = "another process listens there; choose another port or stop it"
	case errors.Is(err, unix.EACCES) && sp.Kind == TCP:
		start := readSysctlInt("/proc/sys/net/ipv4/ip_unprivileged_port_start")
		if start < 0 {
			start = 1024
		}
		hint = fmt.Sprintf("ports below %d need root or CAP_NET_BIND_SERVICE; choose a port >= %d or grant the capability", start, start)
	case errors.Is(err, unix.EACCES) && sp.Kind == Unix:
		hint = fmt.Sprintf("drover may not create files in %s; fix its permissions or choose another path", filepath.Dir(sp.Path))
	case errors.Is(err, unix.EADDRNOTAVAIL):
		hint = "no network interface of this host has that address"
	case errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE):
		hint = "too many open files; raise the limit (ulimit -n)"
	}
	if hint == "" {
		return fmt.Errorf("DROVER_LISTEN: %s: %w", sp, err)
	}
	return fmt.Errorf("DROVER_LISTEN: %s: %w (%s)", sp, err, hint)
}

// listenUnix binds sp.Path, first removing a stale socket file left by a
// previous run (a restarted container keeps its volumes). A path that is not
// a socket, or a socket someone still serves, is never removed.
func listenUnix(sp Spec, backlog int) (int, error) {
	dir := filepath.Dir(sp.Path)
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("DROVER_LISTEN: %s: directory %s does not exist; create it before drover starts: %w", sp, dir, err)
		}
		return -1, fmt.Errorf("DROVER_LISTEN: %s: %w", sp, err)
	} else if !st.IsDir() {
		return -1, fmt.Errorf("DROVER_LISTEN: %s: %s is not a directory: %w", sp, dir, unix.ENOTDIR)
	}
	if err := removeStale(sp); err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, openError(sp, os.NewSyscallError("socket", err))
	}
	if err := bindListen(fd, &unix.SockaddrUnix{Name: sp.Path}, backlog); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EADDRINUSE) {
			return -1, fmt.Errorf("DROVER_LISTEN: %s: %w (%s appeared while drover was binding; is another drover starting?)", sp, err, sp.Path)
		}
		return -1, openError(sp, err)
	}
	return fd, nil
}

func removeStale(sp Spec) error {
	var st unix.Stat_t
	if err := unix.Lstat(sp.Path, &st); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("DROVER_LISTEN: %s: %w", sp, os.NewSyscallError("lstat", err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("DROVER_LISTEN: %s: %s exists and is not a socket: %w (drover removes only stale sockets; delete it or choose another path)",
			sp, sp.Path, unix.EEXIST)
	}
	// Non-blocking, so a live listener with a full queue answers EAGAIN
	// instead of blocking Open.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return openError(sp, os.NewSyscallError("socket", err))
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: sp.Path})
	unix.Close(fd)
	switch err {
	case unix.ECONNREFUSED: // nobody listens: stale
	case nil, unix.EAGAIN, unix.EPROTOTYPE:
		return fmt.Errorf("DROVER_LISTEN: %s: %w (another process serves %s; stop it or choose another path)",
			sp, unix.EADDRINUSE, sp.Path)
	default:
		return fmt.Errorf("DROVER_LISTEN: %s: cannot tell whether %s is stale: %w", sp, sp.Path, os.NewSyscallError("connect", err))
	}
	if err := unix.Unlink(sp.Path); err != nil && err != unix.ENOENT {
		return fmt.Errorf("DROVER_LISTEN: %s: removing stale socket %s: %w", sp, sp.Path, os.NewSyscallError("unlink", err))
	}
	return nil
}

// sockAddr converts a bound address for logs and tests; sotype tells a
// stream unix socket from a seqpacket one.
func sockAddr(sa unix.Sockaddr, sotype int) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: sa.Port}
	case *unix.SockaddrInet6:
		a := &net.TCPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: sa.Port}
		if sa.ZoneId != 0 {
			a.Zone = strconv.Itoa(int(sa.ZoneId))
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	case *unix.SockaddrUnix:
		n := "unix"
		if sotype == unix.SOCK_SEQPACKET {
			n = "unixpacket"
		}
		return &net.UnixAddr{Name: sa.Name, Net: n}
	}
	return nil
}
