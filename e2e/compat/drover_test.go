package compat

// One drover started from a command line of the page: the log (drover's
// lines and the servers', stdout and stderr together, as a terminal shows
// them), its health server, signals and its exit.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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

var plain = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// get is one request on a new connection.
func get(url string) (int, string, error) {
	resp, err := plain.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// readyz is the health server's answer to /readyz (0 if it did not answer).
func (d *drover) readyz() int {
	code, _, err := get("http://" + d.addr + "/readyz")
	if err != nil {
		return 0
	}
	return code
}

// status is the part of /status this suite reads.
type status struct {
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
	Workers []struct {
		ID    int    `json:"id"`
		Pid   int    `json:"pid"`
		State string `json:"state"`
		Ready bool   `json:"ready"`
	} `json:"workers"`
}

func (d *drover) status() (status, error) {
	var s status
	code, body, err := get("http://" + d.addr + "/status")
	if err != nil {
		return s, err
	}
	if code != http.StatusOK {
		return s, fmt.Errorf("/status: HTTP %d", code)
	}
	return s, json.Unmarshal([]byte(body), &s)
}

// waitReady waits until /readyz says 200 and /status has every worker
// ready, and returns the workers' pids by slot. /status has no event to
// wait on, so this polls.
func (d *drover) waitReady(timeout time.Duration) map[int]int {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			d.t.Fatalf("drover exited (code %d) before its workers were ready", d.code)
		default:
		}
		s, err := d.status()
		if err == nil && d.readyz() == http.StatusOK && s.Ready == s.Desired && len(s.Workers) == s.Desired {
			pids := map[int]int{}
			for _, w := range s.Workers {
				pids[w.ID] = w.Pid
			}
			return pids
		}
		last = fmt.Sprintf("%+v %v", s, err)
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("workers not ready within %s: last /status %s", timeout, last)
	return nil
}

var pidBody = regexp.MustCompile(`pid (\d+)`)

// slots sends requests, each on its own connection, until answers came
// from the process trees of n different workers; it returns how many
// requests that took. A worker's tree: gunicorn answers from a child of
// the process drover started.
func (d *drover) slots(n int, pids map[int]int, timeout time.Duration) (int, error) {
	bySlot := map[int]int{}
	for slot, pid := range pids {
		bySlot[pid] = slot
	}
	seen := map[int]bool{}
	var mu sync.Mutex
	deadline := time.Now().Add(timeout)
	url := fmt.Sprintf("http://127.0.0.1:%d/", d.port)
	sent := 0
	var lastErr error
	for time.Now().Before(deadline) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, err := get(url)
				mu.Lock()
				defer mu.Unlock()
				sent++
				if err != nil || code != http.StatusOK {
					lastErr = fmt.Errorf("GET %s: %d %q %v", url, code, body, err)
					return
				}
				m := pidBody.FindStringSubmatch(body)
				if m == nil {
					lastErr = fmt.Errorf("GET %s: %q does not say which pid answered", url, body)
					return
				}
				pid, _ := strconv.Atoi(m[1])
				if slot, ok := slotOf(pid, bySlot); ok {
					seen[slot] = true
				} else {
					lastErr = fmt.Errorf("pid %d answered, which is in no worker's tree %v", pid, pids)
				}
			}()
		}
		wg.Wait()
		if len(seen) >= n {
			return sent, nil
		}
	}
	return sent, fmt.Errorf("answers came from %d of %d workers in %d requests within %s (last error: %v)", len(seen), n, sent, timeout, lastErr)
}

// slotOf walks from pid up its parents to a worker drover started.
func slotOf(pid int, bySlot map[int]int) (int, bool) {
	for range 8 {
		if s, ok := bySlot[pid]; ok {
			return s, true
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, false
		}
		// The command name may hold spaces; the fields after its ')' do not.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 2 {
			return 0, false
		}
		if pid, err = strconv.Atoi(f[1]); err != nil || pid <= 1 {
			return 0, false
		}
	}
	return 0, false
}

// sigIgnored reports whether pid ignores sig (SigIgn in /proc/PID/status).
func sigIgnored(pid int, sig syscall.Signal) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return mask&(1<<(uint(sig)-1)) != 0, err
		}
	}
	return false, fmt.Errorf("no SigIgn in /proc/%d/status", pid)
}
