package compat

// One drover started from a command line of the page: the log (drover's
// lines and the servers', stdout and stderr together, as a terminal shows
// them), its health server, signals and its exit.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of the waits. Generous: the machine has two cores shared with
// other work, and Python or Ruby servers take a while to import.
const (
	startBound  = 30 * time.Second
	reloadBound = 30 * time.Second
	// stopTimeout is drover's default DROVER_STOP_TIMEOUT, which no run
	// of the suite changes.
	stopTimeout = 8 * time.Second
)

type drover struct {
	t    *testing.T
	line string // the command line as run (the page's, with the test's port)
	cmd  *exec.Cmd
	pid  int
	port int
	addr string // health server host:port

	mu    sync.Mutex
	log   []string
	at    []time.Duration // when each log line arrived, from the start
	begin time.Time
	more  chan struct{}
	done  chan struct{}
	code  int
}

// freePort is a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// withPort puts port where the page says 8080.
func withPort(s string, port int) string {
	return strings.ReplaceAll(s, "8080", strconv.Itoa(port))
}

// startLine runs a command line of the page in dir, as a shell would (the
// line's own VAR=value words set its environment), with 2 workers and the
// health server on a port the kernel picks. The shell execs the line, so
// the process the test signals is the one the line starts (drover, or
// nohup that execs drover).
func startLine(t *testing.T, dir, line string, port int, env ...string) *drover {
	t.Helper()
	d := &drover{t: t, line: withPort(line, port), port: port, more: make(chan struct{}, 1), done: make(chan struct{}), begin: time.Now()}
	d.cmd = exec.Command("sh", "-c", "exec env "+d.line)
	d.cmd.Dir = dir
	d.cmd.Env = append([]string{
		"PATH=" + serverPath(), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8",
		"DROVER_WORKERS=2", "DROVER_HEALTH_ADDR=127.0.0.1:0",
	}, append(strings.Fields(os.Getenv("COMPAT_DROVER_ENV")), env...)...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = w, w
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	d.pid = d.cmd.Process.Pid
	go d.read(r)
	go func() {
		err := d.cmd.Wait()
		d.code = exitCode(err)
		close(d.done)
	}()
	t.Cleanup(d.cleanup)
	d.addr = d.waitLog(`health server listening addr=(\S+)`, 1, startBound)[1]
	return d
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

func (d *drover) read(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		d.mu.Lock()
		d.log = append(d.log, sc.Text())
		d.at = append(d.at, time.Since(d.begin))
		d.mu.Unlock()
		select {
		case d.more <- struct{}{}:
		default:
		}
	}
}

// cleanup ends a drover the test left running: SIGTERM, then SIGKILL to it
// and to every worker's process group it started.
func (d *drover) cleanup() {
	select {
	case <-d.done:
	default:
		_ = syscall.Kill(d.pid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(stopTimeout + 5*time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	for _, p := range d.startedPids() {
		_ = syscall.Kill(-p, syscall.SIGKILL)
	}
	if d.t.Failed() {
		d.mu.Lock()
		var b strings.Builder
		for i := max(0, len(d.log)-150); i < len(d.log); i++ {
			fmt.Fprintf(&b, "%8.3fs %s\n", d.at[i].Seconds(), d.log[i])
		}
		d.mu.Unlock()
		d.t.Logf("%s\nits log (last 150 lines, seconds from its start):\n%s", d.line, b.String())
	}
}

func (d *drover) lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// count is how many log lines match re.
func (d *drover) count(re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, l := range d.lines() {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}

// matching is the log lines that match re.
func (d *drover) matching(re string) []string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, l := range d.lines() {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits for n lines matching re and returns the first one's
// submatches; it fails the test after timeout or if drover exits first.
func (d *drover) waitLog(re string, n int, timeout time.Duration) []string {
	d.t.Helper()
	if m, err := d.awaitLog(re, n, timeout); err != nil {
		d.t.Fatal(err)
	} else {
		return m
	}
	return nil
}

// awaitLog is waitLog returning the failure instead.
func (d *drover) awaitLog(re string, n int, timeout time.Duration) ([]string, error) {
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for d.count(re) < n {
		select {
		case <-d.more:
		case <-d.done:
			time.Sleep(100 * time.Millisecond) // the reader's last lines
			if d.count(re) < n {
				return nil, fmt.Errorf("drover exited (code %d) before %d log lines matched %q", d.code, n, re)
			}
		case <-deadline.C:
			return nil, fmt.Errorf("timed out after %s waiting for %d log lines matching %q (have %d)", timeout, n, re, d.count(re))
		}
	}
	for _, l := range d.lines() {
		if m := rx.FindStringSubmatch(l); m != nil {
			return m, nil
		}
	}
	return nil, nil
}

func (d *drover) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := syscall.Kill(d.pid, sig); err != nil {
		d.t.Fatalf("kill %d %v: %v", d.pid, sig, err)
	}
}

// wait returns drover's exit code, or -1 and a failure after timeout.
func (d *drover) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
		return d.code
	case <-time.After(timeout):
		d.t.Errorf("drover did not exit within %s", timeout)
		return -1
	}
}

// startedPids are the pids of every worker drover said it started.
func (d *drover) startedPids() []int {
	rx := regexp.MustCompile(`worker started worker=\d+ pid=(\d+)`)
	var out []int
	for _, l := range d.lines() {
		if m := rx.FindStringSubmatch(l); m != nil {
			p, _ := strconv.Atoi(m[1])
			out = append(out, p)
		}
	}
	return out
}
