package listener

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary re-runs itself in these roles (helper-process pattern):
// "shim" does what drover's exec shim does (LISTEN_PID=getpid, then execve
// of the role in LISTENER_TEST_NEXT); "worker" is a socket-activated server;
// "drover" is drover itself, socket-activated by the test.
const roleEnv, nextEnv = "LISTENER_TEST_ROLE", "LISTENER_TEST_NEXT"

func TestMain(m *testing.M) {
	var err error
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "shim":
		err = helperShim()
	case "worker":
		err = helperWorker()
	case "drover":
		err = helperDrover()
	case "example-worker":
		err = exampleWorker()
	default:
		err = fmt.Errorf("unknown role %q", os.Getenv(roleEnv))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %d: %v\n", os.Getenv(roleEnv), os.Getpid(), err)
		os.Exit(1)
	}
	os.Exit(0)
}

// exampleWorker is Example_worker's worker: it answers one connection on
// each socket it was handed with the socket's name.
func exampleWorker() error {
	ls, err := Listeners()
	if err != nil {
		return err
	}
	for _, l := range ls {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		fmt.Fprintf(c, "%s: hello from the worker\n", l.Name)
		c.Close()
		l.Close()
	}
	return nil
}

func helperShim() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	env := []string{roleEnv + "=" + os.Getenv(nextEnv), "LISTEN_PID=" + strconv.Itoa(os.Getpid())}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != roleEnv && k != "LISTEN_PID" {
			env = append(env, kv)
		}
	}
	return syscall.Exec(exe, []string{exe}, env)
}

// helperWorker checks what it inherited like a strict socket-activated
// daemon would, then answers LISTENER_TEST_CONNS connections per socket
// with "NAME PID LINE".
func helperWorker() error {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return fmt.Errorf("LISTEN_PID=%q, want my pid", os.Getenv("LISTEN_PID"))
	}
	if got, want := os.Getenv("LISTEN_FDNAMES"), os.Getenv("LISTENER_TEST_NAMES"); got != want {
		return fmt.Errorf("LISTEN_FDNAMES=%q, want %q", got, want)
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n != len(names) {
		return fmt.Errorf("LISTEN_FDS=%q for %d names", os.Getenv("LISTEN_FDS"), len(names))
	}
	if err := checkNoLeak(listenFDsStart + n); err != nil {
		return err
	}
	counts := strings.Split(os.Getenv("LISTENER_TEST_CONNS"), ",")
	for i := range n {
		fd := listenFDsStart + i
		fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if fl&unix.O_NONBLOCK != 0 || err != nil || acc != 1 {
			return fmt.Errorf("fd %d: flags %#x, SO_ACCEPTCONN %d, %v: want a blocking listening socket", fd, fl, acc, err)
		}
		l, err := net.FileListener(os.NewFile(uintptr(fd), names[i]))
		if err != nil {
			return err
		}
		l.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(testTimeout))
		k, _ := strconv.Atoi(counts[i])
		for range k {
			if err := answer(l, names[i]); err != nil {
				return err
			}
		}
		l.Close()
	}
	return nil
}

func answer(l net.Listener, name string) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c, "%s %d %s", name, os.Getpid(), line)
	return err
}

// checkNoLeak fails if any socket sits at or above fd from: the Go runtime
// opens no sockets of its own, so one there leaked from the parent.
func checkNoLeak(from int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		link, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if fd >= from && strings.HasPrefix(link, "socket:") {
			return fmt.Errorf("fd %d (%s) leaked into the worker", fd, link)
		}
	}
	return nil
}

type helper struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // written by os/exec until done is closed
	done chan struct{}
	err  error
}

// startHelper runs the test binary as role (through the shim), with files
// as fds 3, 4, …. Its output is logged if the test fails.
func startHelper(t *testing.T, role string, files []*os.File, env ...string) *helper {
	t.Helper()
	h := &helper{cmd: exec.Command(os.Args[0]), done: make(chan struct{})}
	h.cmd.Env = append(WithoutListenEnv(os.Environ()), append(env, roleEnv+"=shim", nextEnv+"="+role)...)
	h.cmd.ExtraFiles = files
	h.cmd.Stdout, h.cmd.Stderr = &h.out, &h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.err = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		select {
		case <-h.done:
			if t.Failed() {
				t.Logf("%s helper output:\n%s", role, h.out.String())
			}
		case <-time.After(testTimeout):
			t.Errorf("%s helper did not die", role)
		}
	})
	return h
}

func (h *helper) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.done:
		if h.err != nil {
			t.Fatalf("helper: %v", h.err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("helper did not finish in %v", testTimeout)
	}
}

func request(t *testing.T, c net.Conn, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(c, line); err != nil {
		t.Fatal(err)
	}
}

// reply reads the worker's answer; a helper that fails ends the wait.
func (h *helper) reply(t *testing.T, c net.Conn) []string {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-h.done:
			if h.err != nil {
				c.SetReadDeadline(time.Now())
			}
		case <-stop:
		}
	}()
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the worker's answer: %v", err)
	}
	return strings.Fields(s)
}

// TestWorkerAcceptsPassedSockets is the production path: drover opens the
// sockets, clients connect before any worker exists, and a worker started
// with ExtraFiles and Env accepts what queued.
func TestWorkerAcceptsPassedSockets(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	set := mustOpen(t, "web=127.0.0.1:0,admin=unix://"+sock, Options{})
	mustOpen(t, "unlisted=127.0.0.1:0", Options{}) // must not reach the worker
	files := mustFiles(t, set, 0)

	var clients []net.Conn
	for i := range 3 {
		c := dial(t, "tcp", set.Addrs()[0].String())
		request(t, c, "hello"+strconv.Itoa(i))
		clients = append(clients, c)
	}
	// All three wait in the kernel: drover accepted none of them.
	waitQueued(t, 3, files[0])

	h := startHelper(t, "worker", files, append(set.Env(),
		"LISTENER_TEST_NAMES=web:admin", "LISTENER_TEST_CONNS=3,1")...)
	uc := dial(t, "unix", sock)
	request(t, uc, "hi-unix")
	pid := strconv.Itoa(h.cmd.Process.Pid) // the shim execs, keeping the pid
	for i, c := range clients {
		if got := h.reply(t, c); len(got) != 3 || got[0] != "web" || got[1] != pid || got[2] != "hello"+strconv.Itoa(i) {
			t.Fatalf("client %d got %q, want web %s hello%d", i, got, pid, i)
		}
	}
	if got := h.reply(t, uc); len(got) != 3 || got[0] != "admin" || got[1] != pid {
		t.Fatalf("unix client got %q", got)
	}
	h.wait(t)

	// The worker is gone but drover's socket still queues connections.
	dial(t, "tcp", set.Addrs()[0].String())
	waitQueued(t, 1, files[0])
}

// TestSocketActivatedDrover plays systemd for drover: drover inherits four
// descriptors, picks two with fd://, and its worker gets only those two.
func TestSocketActivatedDrover(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	sys := mustOpen(t, "web=127.0.0.1:0,admin=unix://"+sock, Options{})
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	idleFD, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	idle := os.NewFile(uintptr(idleFD), "idle")
	defer idle.Close()

	files := append(mustFiles(t, sys, 0), pr, idle)
	port := tcpPort(t, sys.Addrs()[0])
	h := startHelper(t, "drover", files,
		"LISTEN_FDS=4", "LISTEN_FDNAMES=web:admin:pipe:idle",
		"LISTENER_TEST_PORT="+strconv.Itoa(port), "LISTENER_TEST_PATH="+sock)

	c := dial(t, "tcp", sys.Addrs()[0].String())
	request(t, c, "via-systemd")
	uc := dial(t, "unix", sock)
	request(t, uc, "via-unix")
	w1, w2 := h.reply(t, c), h.reply(t, uc)
	if len(w1) != 3 || w1[0] != "web" || w1[2] != "via-systemd" || len(w2) != 3 || w2[0] != "sock" {
		t.Fatalf("answers %q and %q", w1, w2)
	}
	if w1[1] == strconv.Itoa(h.cmd.Process.Pid) {
		t.Fatal("drover itself answered")
	}
	h.wait(t)
}

// helperDrover is drover started by "systemd" with web, admin, a pipe and
// a socket that does not listen as fds 3-6.
func helperDrover() error {
	want := func(value, substr string) error {
		specs, err := Parse(value)
		if err == nil {
			var s *Set
			if s, err = Open(specs, Options{}); err == nil {
				s.Close()
			}
		}
		if err == nil || !strings.Contains(err.Error(), substr) {
			return fmt.Errorf("Open(%q): %v, want an error containing %q", value, err, substr)
		}
		return nil
	}
	for _, c := range [][2]string{
		{"fd://pipe", "fd 5 is not a socket"},
		{"fd://idle", "fd 6 is not a listening socket"},
		{"fd://7", "drover inherited LISTEN_FDS=4 sockets, fds 3-6"},
		{"fd://nope", `no inherited socket is named "nope"`},
		{"a=fd://3,b=fd://web", "same inherited socket (fd 3) as a=fd://3"},
	} {
		if err := want(c[0], c[1]); err != nil {
			return err
		}
	}
	for fd := 3; fd <= 6; fd++ {
		if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
			return fmt.Errorf("inherited fd %d is not close-on-exec", fd)
		}
	}
	specs, err := Parse("fd://web,sock=fd://4")
	if err != nil {
		return err
	}
	set, err := Open(specs, Options{})
	if err != nil {
		return err
	}
	defer set.Close()
	addrs := set.Addrs()
	if got := fmt.Sprintf("%v %d %v", set.Names(), addrs[0].(*net.TCPAddr).Port, addrs[1]); got !=
		fmt.Sprintf("[web sock] %s %s", os.Getenv("LISTENER_TEST_PORT"), os.Getenv("LISTENER_TEST_PATH")) {
		return fmt.Errorf("names and addresses: %s", got)
	}
	files, err := set.Files(0)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(WithoutListenEnv(os.Environ()), append(set.Env(), roleEnv+"=shim", nextEnv+"=worker",
		"LISTENER_TEST_NAMES=web:sock", "LISTENER_TEST_CONNS=1,1")...)
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func TestOpenInheritedEnvErrors(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	const pid = 4242 // not ours: fd 3 of this process must stay untouched
	for _, c := range []struct {
		item, want string
		lookup     func(string) (string, bool)
	}{
		{"fd://3", "LISTEN_PID is not set", env()},
		{"fd://3", `LISTEN_PID="1" is not drover's pid 4242`, env("LISTEN_PID", "1", "LISTEN_FDS", "1")},
		{"fd://3", `LISTEN_FDS="x" is not a count`, env("LISTEN_PID", "4242", "LISTEN_FDS", "x")},
		{"fd://3", "LISTEN_FDS=0", env("LISTEN_PID", "4242", "LISTEN_FDS", "0")},
	} {
		_, err := Open(mustParse(t, c.item), Options{LookupEnv: c.lookup, Pid: pid})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "DROVER_LISTEN: fd://3: ") {
			t.Errorf("%s: error %v, want %q", c.item, err, c.want)
		}
	}
	in := inherited{n: 2, names: []string{"a"}}
	if _, err := in.resolve(mustParse(t, "fd://a")[0]); err == nil || !strings.Contains(err.Error(), "1 names for LISTEN_FDS=2") {
		t.Errorf("name count mismatch: %v", err)
	}
	in = inherited{n: 2}
	if _, err := in.resolve(mustParse(t, "fd://a")[0]); err == nil || !strings.Contains(err.Error(), "LISTEN_FDNAMES is not set") {
		t.Errorf("no names: %v", err)
	}
	in = inherited{n: 2, names: []string{"a", "a"}}
	if _, err := in.resolve(mustParse(t, "fd://a")[0]); err == nil || !strings.Contains(err.Error(), "names both fd 3 and fd 4") {
		t.Errorf("ambiguous name: %v", err)
	}
}
