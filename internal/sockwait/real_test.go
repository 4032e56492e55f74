package sockwait

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// need finds a program the test is about; in CI its absence is a failure.
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// pythonPath prefers the system's python3: a pyenv shim under /root is
// neither fast nor reachable by another user.
func pythonPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return need(t, "python3")
}

// listenSocket is a listening socket as drover would hand it out.
func listenSocket(t testing.TB) (*os.File, Socket) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s, err := Of(f)
	if err != nil {
		t.Fatal(err)
	}
	if s.Port == 0 || s.Ino == 0 {
		t.Fatalf("socket identity %+v", s)
	}
	return f, s
}

// server is a process started on fd 3 that says "ready-to-listen" (or any
// line) on stdout and starts waiting for connections once it gets a line
// on stdin.
type server struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startServer(t testing.TB, f *os.File, cred *syscall.Credential, argv ...string) *server {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return s
}

// line waits for the server's next line.
func (s *server) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			t.Fatal("server exited before it was told to listen")
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("server said nothing in 20s")
	}
	return ""
}

// waitListening checks until the tree of pid listens, as the pool does
// (there is no event to wait on: that is the point of the package).
func waitListening(t *testing.T, c *Checker, pid int, socks []Socket) Result {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.Check(pid, socks)
		if err != nil {
			t.Fatal(err)
		}
		if r.Listening {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d not seen listening within 20s (last %+v)", pid, r)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func notListening(t *testing.T, c *Checker, pid int, socks []Socket) Result {
	t.Helper()
	r, err := c.Check(pid, socks)
	if err != nil {
		t.Fatal(err)
	}
	if r.Listening {
		t.Fatalf("pid %d seen listening before it was told to: %+v", pid, r)
	}
	return r
}

func checker(t *testing.T) *Checker {
	t.Helper()
	c, err := New("/proc")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each way a real server waits for connections, before and after it does.
func TestRealServers(t *testing.T) {
	py := []struct {
		mode string
		how  How
	}{
		{"accept", Accept}, {"c-accept", Accept}, {"dup-accept", Accept}, {"thread-accept", Accept},
		{"select", Select}, {"pselect", Select}, {"poll", Poll}, {"ppoll", Poll},
		{"http.server", Poll}, {"asyncio", Epoll},
	}
	for _, tc := range py {
		t.Run("python-"+tc.mode, func(t *testing.T) {
			t.Parallel()
			python := pythonPath(t)
			f, sock := listenSocket(t)
			s := startServer(t, f, nil, python, "testdata/server.py", tc.mode)
			testServer(t, s, sock, tc.how, 0)
		})
	}
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, need(t, "node"), "testdata/server.js")
		testServer(t, s, sock, Epoll, 0)
	})
	t.Run("go", func(t *testing.T) {
		t.Parallel()
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, "/usr/bin/env", "SOCKWAIT_HELPER=go-server", os.Args[0])
		testServer(t, s, sock, Epoll, 0)
	})
	// A shell that did not exec: the server is a child of the worker.
	t.Run("grandchild", func(t *testing.T) {
		t.Parallel()
		python := pythonPath(t)
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, "sh", "-c", python+" testdata/server.py asyncio; true")
		r := testServer(t, s, sock, Epoll, 1)
		if r.Pid == s.cmd.Process.Pid {
			t.Errorf("found the shell listening, not its child: %+v", r)
		}
	})
	// A worker that forks and execs the server, and waits for it.
	t.Run("fork-exec", func(t *testing.T) {
		t.Parallel()
		python := pythonPath(t)
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, python, "-c",
			`import os, sys; pid = os.fork()
if pid == 0: os.execv(sys.executable, [sys.executable, "testdata/server.py", "select"])
os.waitpid(pid, 0)`)
		testServer(t, s, sock, Select, 1)
	})
}

// testServer checks s before and after it is told to listen; depth is
// how far below the started process the listener is.
func testServer(t *testing.T, s *server, sock Socket, how How, depth int) Result {
	t.Helper()
	c := checker(t)
	pid := s.cmd.Process.Pid
	if l := s.line(t); l != "ready-to-listen" {
		t.Fatalf("server said %q", l)
	}
	r := notListening(t, c, pid, []Socket{sock})
	if r.Shell && depth == 0 {
		t.Errorf("not a shell: %+v", r)
	}
	// Another socket is not ours, before or after.
	_, other := listenSocket(t)
	io.WriteString(s.in, "go\n")
	r = waitListening(t, c, pid, []Socket{sock})
	if r.How != how {
		t.Errorf("found it waiting by %s, want %s", r.How, how)
	}
	if depth == 0 && r.Pid != pid {
		t.Errorf("found pid %d, want %d", r.Pid, pid)
	}
	if got := notListening(t, c, pid, []Socket{other}); got.Listening {
		t.Errorf("listening on a socket it does not have: %+v", got)
	}
	return r
}

// A process that waits, but on a socket of its own, does not count; a
// shell whose child holds the socket is named.
func TestRealNotListening(t *testing.T) {
	python := pythonPath(t)
	c := checker(t)
	t.Run("own-socket", func(t *testing.T) {
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, python, "testdata/server.py", "other-fd")
		s.line(t)
		io.WriteString(s.in, "go\n")
		if l := s.line(t); !strings.HasPrefix(l, "own-port ") {
			t.Fatalf("server said %q", l)
		}
		waitBlocked(t, s.cmd.Process.Pid)
		notListening(t, c, s.cmd.Process.Pid, []Socket{sock})
	})
	t.Run("shell", func(t *testing.T) {
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, "sh", "-c", python+" testdata/server.py idle; true")
		s.line(t)
		r := notListening(t, c, s.cmd.Process.Pid, []Socket{sock})
		if !r.Shell {
			t.Errorf("a shell whose child holds the socket: %+v", r)
		}
		// The shell's exec'd child alone is no shell.
		kids, _ := c.walk(s.cmd.Process.Pid, func(int, *procDir, []string) bool { return true })
		if len(kids) != 1 {
			t.Fatalf("children %v", kids)
		}
		if r := notListening(t, c, kids[0], []Socket{sock}); r.Shell {
			t.Errorf("python is no shell: %+v", r)
		}
	})
	t.Run("gone", func(t *testing.T) {
		cmd := exec.Command("true")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		r, err := c.Check(cmd.Process.Pid, []Socket{{Ino: 1}})
		if err != nil || r.Listening || r.Shell {
			t.Errorf("a reaped pid: %+v, %v", r, err)
		}
	})
}

// waitBlocked waits until pid's main thread is blocked in a system call.
func waitBlocked(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/syscall")
		if f := strings.Fields(string(b)); len(f) > 0 && f[0] != "running" && f[0] != "-1" {
			return
		}
		time.Sleep(2 * time.Millisecond) // /proc has no event to wait on
	}
	t.Fatalf("pid %d never blocked", pid)
}

// What a worker that never listens is doing instead.
func TestRealExplain(t *testing.T) {
	python := pythonPath(t)
	c := checker(t)
	t.Run("own-socket", func(t *testing.T) {
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, python, "testdata/server.py", "other-fd")
		s.line(t)
		io.WriteString(s.in, "go\n")
		port := strings.TrimPrefix(s.line(t), "own-port ")
		got := strings.Join(c.Explain(s.cmd.Process.Pid, []Socket{sock}), "\n")
		if !strings.Contains(got, "listens on 127.0.0.1:"+port+" with a socket of its own") || strings.Contains(got, "drover's port") {
			t.Errorf("explained as %q", got)
		}
		// The same port as drover's (SO_REUSEPORT, or another address).
		sock.Port, _ = strconv.Atoi(port)
		got = strings.Join(c.Explain(s.cmd.Process.Pid, []Socket{sock}), "\n")
		if !strings.Contains(got, "drover's port "+port+": it bound the port itself") {
			t.Errorf("explained as %q", got)
		}
	})
	t.Run("shell", func(t *testing.T) {
		f, sock := listenSocket(t)
		s := startServer(t, f, nil, "sh", "-c", python+" testdata/server.py idle; true")
		s.line(t)
		got := strings.Join(c.Explain(s.cmd.Process.Pid, []Socket{sock}), "\n")
		if !strings.Contains(got, "is a shell (sh) that did not exec the server") || strings.Contains(got, "no process") {
			t.Errorf("explained as %q", got)
		}
	})
	t.Run("closed", func(t *testing.T) {
		_, sock := listenSocket(t)
		cmd := exec.Command("sleep", "100")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		got := strings.Join(c.Explain(cmd.Process.Pid, []Socket{sock}), "\n")
		if !strings.Contains(got, "no process of its tree has drover's socket open") {
			t.Errorf("explained as %q", got)
		}
	})
}
