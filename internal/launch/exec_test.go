package launch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-init/drover/internal/kfile"
)

// The test binary is its own helper: started with LAUNCH_TEST_HELPER set it
// runs that helper instead of the tests (and, started as an exec shim, it is
// a shim: package launch's initializers see to that before TestMain).
func TestMain(m *testing.M) {
	switch os.Getenv("LAUNCH_TEST_HELPER") {
	case "":
	case "signals":
		os.Exit(signalsHelper())
	case "block-exec":
		os.Exit(blockExecHelper())
	case "emfile":
		os.Exit(emfileHelper())
	case "record":
		os.Exit(recordHelper())
	default:
		os.Exit(3)
	}
	if err := SealFDs(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func self(t testing.TB) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitExit collects the status of a started worker (the reaper's job in
// drover), bounded so that a stuck worker fails the test.
func waitExit(t testing.TB, pid int) syscall.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		if got == pid {
			return ws
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("worker %d did not exit", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitExecd(t testing.TB, p Process) {
	t.Helper()
	select {
	case <-p.Execd:
	case <-time.After(10 * time.Second):
		t.Fatal("Execd never closed")
	}
}

func stderrFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type countingLock struct {
	mu      sync.Mutex
	n, held int
}

func (l *countingLock) Lock()   { l.mu.Lock(); l.n++; l.held++ }
func (l *countingLock) Unlock() { l.held--; l.mu.Unlock() }

// A direct start: a process group of its own, Execd closed at once (os/exec
// returns only after exec), the lock held around fork and released.
func TestStartDirect(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "out")
	lock := &countingLock{}
	x := &Exec{Path: "/bin/sh", Args: []string{"sh", "-c", `echo "$$ $(cut -d' ' -f5 /proc/$$/stat) $FOO" > ` + rec}, Lock: lock}
	p, err := x.Start([]string{"FOO=bar", "PATH=/usr/bin:/bin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Execd:
	default:
		t.Error("Execd not closed after a direct start")
	}
	if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
		t.Fatalf("worker exited %v", ws)
	}
	if lock.n != 1 || lock.held != 0 {
		t.Errorf("lock taken %d times, %d still held", lock.n, lock.held)
	}
	f := strings.Fields(readFile(t, rec))
	if len(f) != 3 || f[0] != f[1] || f[2] != "bar" {
		t.Errorf("worker wrote %q, want its pid twice (own process group) and bar", f)
	}
}

// The exec shim sets the pid variables to the worker's own pid, removes its
// protocol from the environment, restores the user's GOMAXPROCS (or its
// absence), and leaks no descriptor.
func TestShimSetsPidVars(t *testing.T) {
	for _, gomaxprocs := range []string{"", "3"} {
		t.Run("GOMAXPROCS="+gomaxprocs, func(t *testing.T) {
			dir := t.TempDir()
			env := []string{"REC=" + dir, "PATH=/usr/bin:/bin"}
			if gomaxprocs != "" {
				env = append(env, "GOMAXPROCS="+gomaxprocs)
			}
			x := &Exec{Path: "/bin/sh", Args: []string{"sh", "-c", `echo "$$ $LISTEN_PID $WATCHDOG_PID" > $REC/pids; ls /proc/self/fd | wc -l >> $REC/pids; env > $REC/env`},
				Shim: self(t), PidVars: []string{"LISTEN_PID", "WATCHDOG_PID"}}
			p, err := x.Start(env, nil)
			if err != nil {
				t.Fatal(err)
			}
			waitExecd(t, p)
			if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
				t.Fatalf("worker exited %v", ws)
			}
			f := strings.Fields(readFile(t, filepath.Join(dir, "pids")))
			if len(f) != 4 || f[0] != f[1] || f[0] != f[2] || f[0] != strconv.Itoa(p.Pid) {
				t.Errorf("worker pid, LISTEN_PID, WATCHDOG_PID = %q, want all %d", f, p.Pid)
			}
			// 0, 1, 2 and the one ls opens for /proc/self/fd: nothing leaked.
			if len(f) == 4 && f[3] != "4" {
				t.Errorf("worker has %s fds open, want 4 (stdio + ls's own)", f[3])
			}
			envOut := readFile(t, filepath.Join(dir, "env"))
			if strings.Contains(envOut, "_DROVER_") {
				t.Errorf("shim protocol leaked into the program's environment:\n%s", envOut)
			}
			has := strings.Contains("\n"+envOut, "\nGOMAXPROCS=")
			if gomaxprocs == "" && has {
				t.Errorf("GOMAXPROCS set in the program although the user had none:\n%s", envOut)
			}
			if gomaxprocs != "" && !strings.Contains("\n"+envOut, "\nGOMAXPROCS="+gomaxprocs+"\n") {
				t.Errorf("the user's GOMAXPROCS=%s not restored:\n%s", gomaxprocs, envOut)
			}
		})
	}
}

// A program that vanished after drover checked it, or cannot run: the shim
// exits like a shell would, 127 for missing, 126 for not executable, with
// the same one line a direct start reports.
func TestShimExitsLikeAShell(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	noInterp := filepath.Join(dir, "noint")
	os.WriteFile(noInterp, []byte("#!/nonexistent/python -u\nprint(1)\n"), 0o755)
	crlf := filepath.Join(dir, "crlf")
	os.WriteFile(crlf, []byte("#!/bin/sh\r\necho hi\r\n"), 0o755)
	for _, c := range []struct {
		path string
		code int
		msg  string
	}{
		{"/nonexistent/prog", 127, "cannot run /nonexistent/prog: no such file or directory"},
		{"/etc/passwd/x", 127, "cannot run /etc/passwd/x: not a directory"},
		{notExec, 126, "cannot run " + notExec + ": permission denied"},
		{noInterp, 127, "cannot run " + noInterp + ": interpreter /nonexistent/python not found"},
		{crlf, 127, "cannot run " + crlf + `: interpreter "/bin/sh\r" not found (the #! line ends in CRLF: convert the script to Unix line endings)`},
	} {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			stderr := stderrFile(t)
			x := &Exec{Path: c.path, Args: []string{"prog"}, Shim: self(t), Stderr: stderr}
			p, err := x.Start(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			waitExecd(t, p)
			if ws := waitExit(t, p.Pid); ws.ExitStatus() != c.code {
				t.Errorf("shim exited %d, want %d", ws.ExitStatus(), c.code)
			}
			if got := readFile(t, stderr.Name()); got != "drover: "+c.msg+"\n" {
				t.Errorf("shim wrote %q, want %q", got, "drover: "+c.msg+"\n")
			}
			// A direct start classifies the same failure the same way.
			_, err = (&Exec{Path: c.path, Args: []string{"prog"}}).Start(nil, nil)
			var e *Error
			if !errors.As(err, &e) || err.Error() != c.msg || e.ExitCode() != c.code || e.Transient() {
				t.Errorf("direct start: %v, want %q (code %d)", err, c.msg, c.code)
			} else if e.ExitCode() != c.code {
				t.Errorf("direct start: code %d, want %d", e.ExitCode(), c.code)
			}
		})
	}
}

// A binary built for another libc fails with ENOENT although it exists:
// the message names its missing dynamic loader.
func TestMissingELFInterpreter(t *testing.T) {
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	i := bytes.Index(b, []byte("/lib64/ld-linux-x86-64.so.2"))
	if i < 0 {
		i = bytes.Index(b, []byte("/lib/ld-linux-aarch64.so.1"))
	}
	if i < 0 {
		t.Skip("/bin/true has no known PT_INTERP")
	}
	copy(b[i:], "/nonexist")
	prog := filepath.Join(t.TempDir(), "true")
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = (&Exec{Path: prog, Args: []string{"true"}}).Start(nil, nil)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "ELF interpreter /nonexist") || !errors.Is(err, syscall.ENOENT) || e.ExitCode() != 127 {
		t.Errorf("got %v, want the missing ELF interpreter named, ENOENT, 127", err)
	}
}

// An empty #! line is its own message; a script with a present interpreter
// that fails otherwise keeps the errno's text.
func TestMissingInterpreterForms(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("#!\n"), 0o755)
	if got := missingInterpreter(empty); got != "empty #! line" {
		t.Errorf("empty #!: %q", got)
	}
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("hello\n"), 0o755)
	if got := missingInterpreter(plain); got != "" {
		t.Errorf("no #!: %q", got)
	}
	if got := missingInterpreter(filepath.Join(dir, "absent")); got != "" {
		t.Errorf("absent: %q", got)
	}
	esc := filepath.Join(dir, "esc")
	os.WriteFile(esc, []byte("#!/bin/\x1b[31msh\n"), 0o755)
	if got := missingInterpreter(esc); got != `interpreter "/bin/\x1b[31msh" not found` {
		t.Errorf("control characters in the name: %q", got)
	}
}

// The #! line is split where the kernel splits it.
func TestShebang(t *testing.T) {
	for _, c := range []struct {
		head, interp string
		ok           bool
	}{
		{"#!/bin/sh\n", "/bin/sh", true},
		{"#! /usr/bin/env python3 -u\n", "/usr/bin/env", true},
		{"#!\t/bin/sh\t-e\n", "/bin/sh", true},
		{"#!/bin/sh\r\n", "/bin/sh\r", true},
		{"#!/bin/sh -e\r\n", "/bin/sh", true},
		{"#!/bin/sh", "/bin/sh", true},
		{"#!\n", "", true},
		{"#!   \n", "", true},
		{"\x7fELF", "", false},
		{"", "", false},
	} {
		interp, ok := shebang([]byte(c.head))
		if interp != c.interp || ok != c.ok {
			t.Errorf("shebang(%q) = %q, %v; want %q, %v", c.head, interp, ok, c.interp, c.ok)
		}
	}
}

// The exit code and transient classes of a failed start, in one place:
// the pool and the shim ask the error itself.
func TestErrorExitCodeAndTransient(t *testing.T) {
	for _, c := range []struct {
		err       error
		code      int
		transient bool
	}{
		{syscall.ENOENT, 127, false},
		{syscall.ENOTDIR, 127, false},
		{exec.ErrNotFound, 127, false},
		{&os.PathError{Op: "stat", Path: "x", Err: syscall.ENOENT}, 127, false},
		{syscall.EACCES, 126, false},
		{syscall.ENOEXEC, 126, false},
		{exec.ErrDot, 126, false},
		{syscall.EAGAIN, 126, true},
		{syscall.EMFILE, 126, true},
		{syscall.ENFILE, 126, true},
		{syscall.ENOMEM, 126, true},
		{fmt.Errorf("exec shim pipe: %w", syscall.EMFILE), 126, true},
	} {
		e := &Error{Path: "p", Err: c.err}
		if got := e.ExitCode(); got != c.code {
			t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.code)
		}
		if got := e.Transient(); got != c.transient {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.transient)
		}
	}
}

// Out of descriptors: the failure wraps EMFILE, so the pool retries it
// instead of counting a broken command. Run in a helper process, whose
// descriptor limit this lowers.
func TestTransientEMFILE(t *testing.T) {
	cmd := exec.Command(self(t))
	cmd.Env = append(os.Environ(), "LAUNCH_TEST_HELPER=emfile")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if got := string(out); got != "direct: transient EMFILE\nshim: transient EMFILE\n" {
		t.Errorf("helper reported:\n%s", got)
	}
}

func emfileHelper() int {
	lim := syscall.Rlimit{Cur: 32, Max: 32}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		os.Stdout.WriteString("setrlimit: " + err.Error() + "\n")
		return 1
	}
	var hold []*os.File
	for {
		f, err := os.Open("/dev/null")
		if err != nil {
			break
		}
		hold = append(hold, f)
	}
	for _, c := range []struct {
		name string
		x    *Exec
	}{{"direct", &Exec{Path: "/bin/true"}}, {"shim", &Exec{Path: "/bin/true", Shim: "/proc/self/exe"}}} {
		_, err := c.x.Start(nil, nil)
		state := "not transient"
		if e := (*Error)(nil); errors.As(err, &e) && e.Transient() {
			state = "transient"
		}
		if errors.Is(err, syscall.EMFILE) {
			state += " EMFILE"
		}
		os.Stdout.WriteString(c.name + ": " + state + "\n")
	}
	for _, f := range hold {
		f.Close()
	}
	return 0
}

// The first bytes of a command are read only from a regular file: a FIFO
// named as the command would block the pool's goroutine in open or read.
func TestOpenRegularNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() { done <- interpreterMissing(fifo) && missingInterpreter(fifo) == "" }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("a FIFO is taken for a program with an interpreter")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO named as the command blocked")
	}
	if _, err := kfile.Open(dir); err == nil {
		t.Error("a directory opened as a regular file")
	}
}
