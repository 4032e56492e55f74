package notify

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// receiver runs Socket.Run in the background and collects what it delivers.
type receiver struct {
	n     *Socket
	msgs  chan Message
	warns chan error
	done  chan error
}

func listenNotify(t *testing.T, path string) *receiver {
	t.Helper()
	n, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &receiver{n: n, msgs: make(chan Message, 16), warns: make(chan error, 16), done: make(chan error, 1)}
	go func() {
		r.done <- n.Run(ctx, func(m Message) { r.msgs <- m }, func(err error) { r.warns <- err })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func (r *receiver) next(t *testing.T) Message {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case err := <-r.warns:
		t.Fatalf("warned instead of delivering: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no notify message within 10s")
	}
	return Message{}
}

func abstractName(t *testing.T) string {
	return fmt.Sprintf("@drover-notify-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
}

func TestNotifyFromChild(t *testing.T) {
	paths := map[string]string{
		"file":     filepath.Join(t.TempDir(), "notify.sock"),
		"abstract": abstractName(t),
	}
	for kind, path := range paths {
		t.Run(kind, func(t *testing.T) {
			r := listenNotify(t, path)
			if r.n.Path() != path {
				t.Errorf("Path() = %q", r.n.Path())
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=notify", "NOTIFY_SOCKET="+path)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("helper: %v", err)
			}
			m := r.next(t)
			want := Message{Pid: cmd.Process.Pid, UID: os.Getuid(), Fields: map[string]string{"READY": "1", "STATUS": "hello"}}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("got %+v, want %+v", m, want)
			}
		})
	}
}

func TestNotifyFromPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	const script = `import os, socket, sys
path = sys.argv[1]
if path.startswith("@"):
    path = "\0" + path[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=from python\n\nX_CUSTOM=a=b\nnot a field\nSTATUS=second\n", path)
print(os.getpid())
`
	for _, path := range []string{filepath.Join(t.TempDir(), "n.sock"), abstractName(t)} {
		r := listenNotify(t, path)
		out, err := exec.Command(python, "-c", script, path).Output()
		if err != nil {
			t.Fatalf("python: %v", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("python printed %q", out)
		}
		m := r.next(t)
		want := map[string]string{"READY": "1", "STATUS": "from python", "X_CUSTOM": "a=b"}
		if m.Pid != pid || !maps.Equal(m.Fields, want) {
			t.Errorf("%s: got pid %d fields %q, want pid %d fields %q", path, m.Pid, m.Fields, pid, want)
		}
	}
}

// openFDs lists this process's descriptors with what they point to.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds[e.Name()] = target
	}
	return fds
}

// FDSTORE=1 sends fds along; drover does not keep them, and must not leak them.
func TestNotifyClosesPassedFDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.sock")
	r := listenNotify(t, path)
	// net.UnixConn refuses control messages on a connected datagram socket.
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sock)

	before := openFDs(t)
	marker := filepath.Join(t.TempDir(), "stored-fd-marker")
	f, err := os.Create(marker)
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(p[0], &st); err != nil {
		t.Fatal(err)
	}
	pipeName := fmt.Sprintf("pipe:[%d]", st.Ino)
	fds := []int{int(f.Fd()), p[0], p[1]}
	if err := unix.Sendmsg(sock, []byte("FDSTORE=1\nFDNAME=db"), unix.UnixRights(fds...), &unix.SockaddrUnix{Name: path}, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	unix.Close(p[0])
	unix.Close(p[1])

	m := r.next(t)
	if m.FDs != 3 || m.Fields["FDSTORE"] != "1" {
		t.Errorf("got %+v, want 3 fds and FDSTORE=1", m)
	}
	after := openFDs(t)
	if len(after) > len(before) {
		t.Errorf("%d fds open before, %d after: %v -> %v", len(before), len(after), before, after)
	}
	for fd, target := range after {
		if target == marker || target == pipeName {
			t.Errorf("fd %s still points to %s", fd, target)
		}
	}
}

func TestNotifyDropsOversized(t *testing.T) {
	r := listenNotify(t, abstractName(t))
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: r.n.Path(), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("STATUS=" + strings.Repeat("x", MaxSize))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("READY=1")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.warns:
		if !strings.Contains(err.Error(), "larger than") || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
			t.Errorf("warning %q", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no warning within 10s")
	}
	// Delivery is in order, so the oversized one would come first.
	if m := r.next(t); m.Fields["READY"] != "1" || len(m.Fields) != 1 {
		t.Errorf("delivered %d bytes of STATUS, want only READY=1", len(m.Fields["STATUS"]))
	}
}

func TestNotifySocketFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notify.sock")

	// A socket left behind by an earlier run is replaced (Go does not
	// unlink datagram sockets on close).
	stale, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	stale.Close()

	old := unix.Umask(0o077)
	n, err := Listen(path)
	unix.Umask(old)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, want a socket with 0666", fi.Mode())
	}

	// Close makes a blocked Run return, and removes the file.
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background(), func(Message) {}, nil) }()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	// Anything that is not a socket is never deleted.
	regular := filepath.Join(dir, "precious")
	if err := os.WriteFile(regular, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(regular); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file = %v", err)
	}
	if b, _ := os.ReadFile(regular); string(b) != "data" {
		t.Error("regular file was touched")
	}
	if _, err := Listen(""); err == nil {
		t.Error(`Listen("") succeeded`)
	}
}

func TestNotifyRunStopsOnCancel(t *testing.T) {
	n, err := Listen(abstractName(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, func(Message) {}, nil) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestParseFields(t *testing.T) {
	got := parseFields("READY=1\n\nSTATUS=a=b\nnoequals\n=novalue\nSTATUS=second\nERRNO=\nX_APP=é\n")
	want := map[string]string{"READY": "1", "STATUS": "a=b", "ERRNO": "", "X_APP": "é"}
	if !maps.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A sender looping on oversized datagrams gets one warning per WarnEvery,
// which says how many went unreported since; the end of Run reports the
// rest.
func TestNotifyDropWarningsAreRateLimited(t *testing.T) {
	n, err := Listen(abstractName(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx, cancel := context.WithCancel(context.Background())
	msgs, warns, done := make(chan Message, 16), make(chan error, 4096), make(chan error, 1)
	go func() { done <- n.Run(ctx, func(m Message) { msgs <- m }, func(err error) { warns <- err }) }()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.Path(), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	big := []byte("STATUS=" + strings.Repeat("x", MaxSize))
	flood := func(count int) {
		t.Helper()
		for i := 0; i < count; i++ {
			if _, err := conn.Write(big); err != nil {
				t.Fatal(err)
			}
		}
		// Delivered in order: once READY=1 is here, every drop before it was seen.
		conn.Write([]byte("READY=1"))
		select {
		case <-msgs:
		case <-time.After(10 * time.Second):
			t.Fatal("READY=1 not delivered")
		}
	}
	drain := func() []string {
		var out []string
		for {
			select {
			case err := <-warns:
				out = append(out, err.Error())
			default:
				return out
			}
		}
	}
	flood(1201)
	if got := drain(); len(got) != 1 || !strings.Contains(got[0], "larger than") || strings.Contains(got[0], "not logged") {
		t.Fatalf("1201 oversized datagrams: warnings %q, want one", got)
	}
	mu.Lock()
	now = now.Add(WarnEvery)
	mu.Unlock()
	flood(3)
	if got := drain(); len(got) != 1 || !strings.HasSuffix(got[0], "; 1200 more dropped messages were not logged") {
		t.Fatalf("after %s: warnings %q, want one counting the 1200 before", WarnEvery, got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := drain(); len(got) != 1 || !strings.HasSuffix(got[0], ": 2 more dropped messages were not logged") {
		t.Fatalf("at the end: %q", got)
	}
}

// Senders together get at most MaxWarnings lines per WarnEvery.
func TestDropLog(t *testing.T) {
	d := newDropLog()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	shown := 0
	for pid := 1; pid <= 100; pid++ {
		if ok, _ := d.report(pid, t0); ok {
			shown++
		}
	}
	if shown != MaxWarnings || d.hidden != 100-MaxWarnings {
		t.Fatalf("100 senders: %d shown, %d hidden", shown, d.hidden)
	}
	if ok, hidden := d.report(1, t0.Add(WarnEvery-time.Nanosecond)); ok || hidden != 0 {
		t.Fatal("shown again within WarnEvery")
	}
	if ok, hidden := d.report(1, t0.Add(WarnEvery)); !ok || hidden != 91 {
		t.Fatalf("after WarnEvery: %v, %d hidden; want shown, 91", ok, hidden)
	}
	if len(d.shown) != 1 {
		t.Fatalf("%d senders remembered, want the one of this window", len(d.shown))
	}
}
