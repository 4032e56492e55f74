package main

// Black-box harness: TestMain builds the drover binary once and the tests
// drive it as a user would, through its environment, signals and exit code,
// usually as PID 1 of a fresh PID namespace. The test binary doubles as a
// worker when DROVER_TEST_HELPER is set (helper-process pattern).

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-init/drover/internal/launch"
)

// droverBin is the binary under test, built once by TestMain.
var droverBin string

func TestMain(m *testing.M) {
	if launch.IsShim(os.Environ()) {
		os.Exit(launch.Shim(os.Args, os.Environ(), os.Stderr))
	}
	if mode := os.Getenv("DROVER_TEST_HELPER"); mode != "" {
		os.Exit(helperMain(mode))
	}
	dir, err := os.MkdirTemp("", "drover-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	droverBin = filepath.Join(dir, "drover")
	args := []string{"build", "-o", droverBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building drover:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running drover under test.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	pid  int // drover's pid as seen from the test (host namespace)
	mu   sync.Mutex
	log  []string
	more chan struct{} // signalled on every new stderr line
	done chan struct{} // closed when drover has exited
	code int
}

type runOpts struct {
	env   []string // DROVER_* and anything else, added to a minimal environment
	pidns bool     // run as PID 1 of a new PID namespace
	stdin io.Reader
	// shell, when set, is a shell line run first that ends by exec'ing
	// drover ("$@"), e.g. to join a cgroup before drover starts.
	shell string
	// wrap is a command that execs drover (its argv is appended).
	wrap []string
	// extra are descriptors drover inherits as fds 3, 4, ….
	extra []*os.File
}

// needRoot skips tests that need root (PID namespaces, cgroups).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for PID namespaces (unshare --pid); run the suite as root, as CI does")
	}
}

// startDrover runs drover with args; the test ends it if it is still alive.
func startDrover(t *testing.T, o runOpts, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, more: make(chan struct{}, 1), done: make(chan struct{})}
	argv := append(append(append([]string(nil), o.wrap...), droverBin), args...)
	if o.shell != "" {
		argv = append([]string{"sh", "-c", o.shell + `; exec "$@"`, "sh"}, argv...)
	}
	if o.pidns {
		needRoot(t)
		argv = append([]string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"}, argv...)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=/root", "DROVER_HEALTH_ADDR=off",
		"GORACE=halt_on_error=1 exitcode=66 atexit_sleep_ms=0",
	}, o.env...)
	p.cmd.Stdin = o.stdin
	p.cmd.ExtraFiles = o.extra
	p.cmd.Stdout = os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go p.readLog(r)
	go func() {
		err := p.cmd.Wait()
		p.code = exitCode(err)
		close(p.done)
	}()
	p.pid = p.cmd.Process.Pid
	if o.pidns {
		p.pid = p.child(p.cmd.Process.Pid)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill() // --kill-child takes the namespace down
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("drover's log:\n%s", strings.Join(p.lines(), "\n"))
		}
	})
	return p
}

// child finds the first child of pid (drover, under unshare).
func (p *proc) child(pid int) int {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.Atoi(f[0])
			return n
		}
		select {
		case <-p.done:
			return pid
		case <-time.After(5 * time.Millisecond):
		}
	}
	p.t.Fatalf("drover did not start under unshare")
	return 0
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
	return -1
}

func (p *proc) readLog(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		p.mu.Lock()
		p.log = append(p.log, sc.Text())
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
	}
}

func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// count is how many log lines match re.
func (p *proc) count(re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, l := range p.lines() {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}

// waitLog waits until n lines match re, or fails the test after timeout.
func (p *proc) waitLog(re string, n int, timeout time.Duration) {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for p.count(re) < n {
		select {
		case <-p.more:
		case <-p.done:
			if p.count(re) < n {
				p.t.Fatalf("drover exited (code %d) before %d log lines matched %q", p.code, n, re)
			}
		case <-deadline.C:
			p.t.Fatalf("timed out after %s waiting for %d log lines matching %q (have %d)", timeout, n, re, p.count(re))
		}
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(p.pid, sig); err != nil {
		p.t.Fatalf("kill %d %v: %v", p.pid, sig, err)
	}
}

// wait returns drover's exit code, failing the test after timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("drover did not exit within %s", timeout)
		return -1
	}
}

// workerPids lists the pids of started workers, from drover's log, in order.
func (p *proc) workerPids() map[int][]int {
	rx := regexp.MustCompile(`worker started worker=(\d+) pid=(\d+)`)
	out := map[int][]int{}
	for _, l := range p.lines() {
		if m := rx.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[2])
			out[id] = append(out[id], pid)
		}
	}
	return out
}

// waitFile waits until path exists and holds a line matching re.
func waitFile(t *testing.T, path, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if rx.Match(b) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s to match %q; it holds %q", timeout, path, re, b)
		}
		time.Sleep(10 * time.Millisecond) // polling a file: there is no event to wait on
	}
}

func script(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", name))
	return p
}
