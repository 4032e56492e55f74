package listener

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testTimeout = 20 * time.Second

func mustParse(t *testing.T, s string) []Spec {
	t.Helper()
	specs, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return specs
}

func mustOpen(t *testing.T, s string, opt Options) *Set {
	t.Helper()
	set, err := Open(mustParse(t, s), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	return set
}

func mustFiles(t *testing.T, set *Set, slot int) []*os.File {
	t.Helper()
	files, err := set.Files(slot)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// rawFD runs fn on f's descriptor without Fd(), which would pin f.
func rawFD(t *testing.T, f *os.File, fn func(fd int)) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) { fn(int(fd)) }); err != nil {
		t.Fatal(err)
	}
}

func sockoptInt(t *testing.T, f *os.File, level, opt int) int {
	t.Helper()
	var v int
	var err error
	rawFD(t, f, func(fd int) { v, err = unix.GetsockoptInt(fd, level, opt) })
	if err != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
	}
	return v
}

// acceptQueue reports the connections waiting in a listening TCP socket's
// accept queue and the queue's limit: for a socket in LISTEN state Linux
// puts sk_ack_backlog in tcpi_unacked and sk_max_ack_backlog in tcpi_sacked.
func acceptQueue(t *testing.T, f *os.File) (queued, limit int) {
	t.Helper()
	var info *unix.TCPInfo
	var err error
	rawFD(t, f, func(fd int) { info, err = unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO) })
	if err != nil {
		t.Fatal(err)
	}
	return int(info.Unacked), int(info.Sacked)
}

// waitQueued polls, bounded, because the server side of a loopback
// handshake may complete just after the client's connect returns, and no
// event announces it.
func waitQueued(t *testing.T, want int, files ...*os.File) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		got := 0
		for _, f := range files {
			q, _ := acceptQueue(t, f)
			got += q
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queues hold %d connections, want %d", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func dial(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

func tcpPort(t *testing.T, a net.Addr) int {
	t.Helper()
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.Port == 0 {
		t.Fatalf("address %v is not a bound TCP address", a)
	}
	return ta.Port
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}
