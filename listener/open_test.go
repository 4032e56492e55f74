package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenTCPLoopback(t *testing.T) {
	set := mustOpen(t, "127.0.0.1:0", Options{})
	addr := set.Addrs()[0].(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port == 0 {
		t.Fatalf("Addrs() = %v, want 127.0.0.1 and a kernel-chosen port", addr)
	}
	f := mustFiles(t, set, 0)[0]

	// The state a socket-activated worker expects, and nothing for drover's
	// own poller or for leaking into workers.
	rawFD(t, f, func(fd int) {
		fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if fl&unix.O_NONBLOCK != 0 || fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("flags %#x fd flags %#x: want blocking and close-on-exec", fl, fdfl)
		}
	})
	for _, o := range []struct {
		name string
		opt  int
		want int
	}{{"SO_ACCEPTCONN", unix.SO_ACCEPTCONN, 1}, {"SO_REUSEADDR", unix.SO_REUSEADDR, 1}, {"SO_REUSEPORT", unix.SO_REUSEPORT, 0}} {
		if got := sockoptInt(t, f, unix.SOL_SOCKET, o.opt); got != o.want {
			t.Errorf("%s = %d, want %d", o.name, got, o.want)
		}
	}

	// Nobody accepts, so connections wait in the kernel's queue, which is
	// as deep as somaxconn.
	dial(t, "tcp", addr.String())
	dial(t, "tcp", addr.String())
	waitQueued(t, 2, f)
	if _, limit := acceptQueue(t, f); limit != defaultBacklog() {
		t.Errorf("backlog = %d, want somaxconn %d", limit, defaultBacklog())
	}
}

func TestOpenBacklogOption(t *testing.T) {
	set := mustOpen(t, "127.0.0.1:0", Options{Backlog: 7})
	if _, limit := acceptQueue(t, mustFiles(t, set, 0)[0]); limit != 7 {
		t.Fatalf("backlog = %d, want 7", limit)
	}
}

func TestOpenAnyAddress(t *testing.T) {
	set := mustOpen(t, ":0", Options{})
	port := tcpPort(t, set.Addrs()[0])
	f := mustFiles(t, set, 0)[0]
	dial(t, "tcp4", "127.0.0.1:"+strconv.Itoa(port))
	want := 1
	if hasIPv6Loopback() {
		dial(t, "tcp6", "[::1]:"+strconv.Itoa(port)) // one dual-stack socket
		want = 2
	}
	waitQueued(t, want, f)
}

func TestOpenDualStackWildcard(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 on the loopback interface")
	}
	set := mustOpen(t, "tcp://[::]:0", Options{})
	port := strconv.Itoa(tcpPort(t, set.Addrs()[0]))
	dial(t, "tcp4", "127.0.0.1:"+port)
	dial(t, "tcp6", "[::1]:"+port)
	waitQueued(t, 2, mustFiles(t, set, 0)[0])
}

func TestOpenHostName(t *testing.T) {
	if _, err := net.ResolveTCPAddr("tcp", "localhost:0"); err != nil {
		t.Skipf("localhost does not resolve: %v", err)
	}
	set := mustOpen(t, "localhost:0", Options{})
	if a := set.Addrs()[0].(*net.TCPAddr); !a.IP.IsLoopback() {
		t.Fatalf("localhost bound to %v", a)
	}
}

func TestOpenIPv6Loopback(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 on the loopback interface")
	}
	set := mustOpen(t, "tcp://[::1]:0", Options{})
	addr := set.Addrs()[0].(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv6loopback) {
		t.Fatalf("Addrs() = %v, want [::1]", addr)
	}
	dial(t, "tcp", addr.String())
	waitQueued(t, 1, mustFiles(t, set, 0)[0])
	if v := sockoptInt(t, mustFiles(t, set, 0)[0], unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); v != 1 {
		t.Errorf("IPV6_V6ONLY = %d, want 1 for a specific address", v)
	}
}

func TestOpenUnix(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.sock")
	set := mustOpen(t, "unix://"+p, Options{})
	if got := set.Addrs()[0].String(); got != p {
		t.Fatalf("Addrs() = %q, want %q", got, p)
	}
	if got := set.Names(); !reflect.DeepEqual(got, []string{"unix-app.sock"}) {
		t.Fatalf("Names() = %q", got)
	}
	dial(t, "unix", p)
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left the socket file behind: %v", err)
	}
}

func TestOpenUnixRemovesStaleSocket(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // the file stays, nobody listens: what a killed process leaves
	set := mustOpen(t, "unix://"+p, Options{})
	dial(t, "unix", p)
	_ = set
}

func TestOpenUnixRefusesLiveListener(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Open(mustParse(t, "unix://"+p), Options{})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "another process serves "+p) {
		t.Fatalf("Open over a live listener: %v", err)
	}
	// The live listener still owns its path.
	c := dial(t, "unix", p)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestOpenUnixRefusesRegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(mustParse(t, "unix://"+p), Options{})
	if !errors.Is(err, syscall.EEXIST) || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Fatalf("Open over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "keep me" {
		t.Fatalf("regular file was touched: %q", b)
	}
}

func TestOpenUnixMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := Open(mustParse(t, "unix://"+dir+"/app.sock"), Options{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "directory "+dir+" does not exist") {
		t.Fatalf("Open in a missing directory: %v", err)
	}
}

func TestOpenPortTaken(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := other.Addr().(*net.TCPAddr).Port
	sock := filepath.Join(t.TempDir(), "first.sock")
	for _, reuse := range []bool{false, true} {
		_, err = Open(mustParse(t, fmt.Sprintf("unix://%s,127.0.0.1:%d", sock, port)), Options{ReusePort: reuse})
		want := fmt.Sprintf("DROVER_LISTEN: tcp://127.0.0.1:%d: address already in use (another process listens there; choose another port or stop it)", port)
		if !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("ReusePort=%v: error %q\nwant %q", reuse, err, want)
		}
		// A failed Open leaves nothing behind.
		if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("failed Open left %s: %v", sock, err)
		}
	}
}

func TestOpenErrorHints(t *testing.T) {
	sp := mustParse(t, ":80")[0]
	err := openError(sp, unix.EACCES)
	if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), "tcp://:80: permission denied (ports below") ||
		!strings.Contains(err.Error(), "CAP_NET_BIND_SERVICE") {
		t.Fatalf("EACCES: %v", err)
	}
	if err := openError(sp, unix.EADDRNOTAVAIL); !strings.Contains(err.Error(), "no network interface") {
		t.Fatalf("EADDRNOTAVAIL: %v", err)
	}
}

func TestOpenTwoNamed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "admin.sock")
	set := mustOpen(t, "web=127.0.0.1:0,admin=unix://"+p, Options{})
	if got := set.Names(); !reflect.DeepEqual(got, []string{"web", "admin"}) {
		t.Fatalf("Names() = %q", got)
	}
	if got := set.Env(); !reflect.DeepEqual(got, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=web:admin"}) {
		t.Fatalf("Env() = %q", got)
	}
	f0, f7 := mustFiles(t, set, 0), mustFiles(t, set, 7)
	if len(f0) != 2 || f0[0] == f0[1] || !reflect.DeepEqual(f0, f7) {
		t.Fatalf("shared mode: Files(0) = %v, Files(7) = %v", f0, f7)
	}
	if err := set.Release(7); err != nil {
		t.Fatal(err)
	}
	if _, err := f0[0].Stat(); err != nil {
		t.Fatalf("Release in shared mode closed a socket: %v", err)
	}
}

func TestOpenReusePort(t *testing.T) {
	p := filepath.Join(t.TempDir(), "u.sock")
	set := mustOpen(t, "web=127.0.0.1:0,u=unix://"+p, Options{ReusePort: true})
	port := tcpPort(t, set.Addrs()[0])
	s0, s1 := mustFiles(t, set, 0), mustFiles(t, set, 1)
	if s0[0] == s1[0] || s0[1] != s1[1] {
		t.Fatalf("want distinct TCP and shared unix files: slot0 %v slot1 %v", s0, s1)
	}
	if again := mustFiles(t, set, 1); !reflect.DeepEqual(again, s1) {
		t.Fatalf("Files(1) changed between calls: %v then %v", s1, again)
	}
	for _, f := range []*os.File{s0[0], s1[0]} {
		var sa unix.Sockaddr
		rawFD(t, f, func(fd int) { sa, _ = unix.Getsockname(fd) })
		if got := sa.(*unix.SockaddrInet4).Port; got != port {
			t.Fatalf("slot socket bound to port %d, want %d", got, port)
		}
		if sockoptInt(t, f, unix.SOL_SOCKET, unix.SO_REUSEPORT) != 1 {
			t.Fatal("SO_REUSEPORT not set")
		}
	}
	// The kernel spreads connections over both slots' queues.
	const n = 32
	for i := 0; i < n; i++ {
		dial(t, "tcp", set.Addrs()[0].String())
	}
	waitQueued(t, n, s0[0], s1[0])
	if q0, _ := acceptQueue(t, s0[0]); q0 == 0 || q0 == n {
		t.Errorf("slot 0 queued %d of %d connections: not balanced", q0, n)
	}

	if err := set.Release(1); err != nil {
		t.Fatal(err)
	}
	if _, err := s1[0].Stat(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Release(1) left slot 1's socket open: %v", err)
	}
	if _, err := s1[1].Stat(); err != nil {
		t.Fatalf("Release(1) closed the shared unix socket: %v", err)
	}
	if fresh := mustFiles(t, set, 1); fresh[0] == s1[0] {
		t.Fatal("Files(1) after Release returned the closed socket")
	}
	// Slot 0 can be rebuilt on the same port after a Release.
	if err := set.Release(0); err != nil {
		t.Fatal(err)
	}
	if tcpPort(t, set.Addrs()[0]) != port {
		t.Fatal("Addrs changed after Release")
	}
	mustFiles(t, set, 0)
	// Another process cannot take the port while drover holds it.
	if l, err := net.Listen("tcp", set.Addrs()[0].String()); err == nil {
		l.Close()
		t.Fatal("a plain listener could bind drover's reuseport port")
	}
}

func TestSetAfterClose(t *testing.T) {
	set, err := Open(mustParse(t, "127.0.0.1:0"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := mustFiles(t, set, 0)[0]
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if err := set.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("socket still open after Close: %v", err)
	}
	if _, err := set.Files(0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Files after Close: %v", err)
	}
}

func TestOpenRejectsHandMadeSpecs(t *testing.T) {
	for _, sp := range []Spec{
		{Name: "x", Kind: 9},
		{Name: "a:b", Kind: TCP},
		{Name: "p", Kind: TCP, Port: 70000},
		{Name: "u", Kind: Unix, Path: "rel.sock"},
		{Name: "f", Kind: FD, FD: 1},
	} {
		if _, err := Open([]Spec{sp}, Options{}); err == nil || !strings.HasPrefix(err.Error(), "DROVER_LISTEN: ") {
			t.Errorf("Open(%+v) error = %v", sp, err)
		}
	}
}

func TestOpenNothing(t *testing.T) {
	set := mustOpen(t, "", Options{})
	if set.Env() != nil || len(set.Names()) != 0 || len(mustFiles(t, set, 0)) != 0 {
		t.Fatal("an empty Set should pass nothing to workers")
	}
}

func TestWithoutListenEnv(t *testing.T) {
	in := []string{"PATH=/bin", "LISTEN_PID=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=a:b", "LISTEN_FDS_X=keep", "X=LISTEN_FDS=1"}
	got := WithoutListenEnv(in)
	if want := []string{"PATH=/bin", "LISTEN_FDS_X=keep", "X=LISTEN_FDS=1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("WithoutListenEnv = %q, want %q", got, want)
	}
	if len(in) != 6 || in[1] != "LISTEN_PID=1" {
		t.Fatal("input modified")
	}
}
