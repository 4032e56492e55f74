package e2e

// Issue 17, item 2: a stderr nobody reads (a stuck log shipper, a paused
// `kubectl logs -f` relay, a full FIFO) must not stop supervision: drover
// keeps restarting workers, answers /livez, and stops on SIGTERM within
// its stop timeout; what it could not write is counted, and said once
// stderr drains. A stderr whose reader is gone must not make drover send
// SIGPIPE to its workers.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stuckDrover is drover with its stderr on a pipe the test does not read
// until it says so, its health server on a fixed loopback address (its
// log line cannot be read), and a command line the issue gave.
type stuckDrover struct {
	t    *testing.T
	cmd  *exec.Cmd
	r    *os.File // the read end of drover's stderr
	addr string
	done chan struct{}
	code int
}

// startStuck starts drover with stderr on a one-page pipe (4 KiB: full
// after a few dozen lines) and waits until the pipe is full, so that
// drover's writer is blocked in write(2) from then on.
func startStuck(t *testing.T, env []string, args ...string) *stuckDrover {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatalf("F_SETPIPE_SZ: %v", err)
	}
	s := &stuckDrover{t: t, r: r, addr: freeAddr(t), done: make(chan struct{})}
	s.cmd = command(t, opts{env: append([]string{"DROVER_HEALTH_ADDR=" + s.addr}, env...)}, args...)
	s.cmd.Stderr = w
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		s.code = exitCode(s.cmd.Wait())
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			out := s.drain()
			lines := strings.Split(out, "\n")
			t.Logf("drover exited %d; the last of its stderr:\n%s", s.code, strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
		r.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ) // FIONREAD: bytes waiting in the pipe
		if err != nil {
			t.Fatalf("TIOCINQ: %v", err)
		}
		if n > 4096-200 { // no room for one more line: the writer is blocked
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stderr pipe holds %d bytes after 10 s; drover logs too little to fill it", n)
		}
		select {
		case <-s.done:
			t.Fatalf("drover exited %d before its stderr filled", s.code)
		case <-time.After(10 * time.Millisecond): // a pipe filling up sends no event
		}
	}
	return s
}

// get asks the health server, bounded by timeout, and says how long it took.
func (s *stuckDrover) get(path string, timeout time.Duration) (int, string, time.Duration, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get("http://" + s.addr + path)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start), err
}

// metric reads one sample from /metrics: "name" or `name{label="v"}`.
func (s *stuckDrover) metric(series string) float64 {
	s.t.Helper()
	v, ok := s.sample(series)
	if !ok {
		s.t.Fatalf("/metrics has no %s", series)
	}
	return v
}

// sample is metric for a series that may not exist yet.
func (s *stuckDrover) sample(series string) (float64, bool) {
	s.t.Helper()
	code, body, _, err := s.get("/metrics", 5*time.Second)
	if err != nil || code != 200 {
		s.t.Fatalf("GET /metrics: %d %v", code, err)
	}
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("%s: %q", series, l)
			}
			return f, true
		}
	}
	return 0, false
}

const (
	crashLoop  = "sleep 0.05; exit 1"
	restartsOf = `drover_worker_restarts_total{reason="exit"}`
	droppedOf  = "drover_log_lines_dropped_total"
)

// The command, as written, with stderr stuck: restarts go on,
// /livez answers within 100 ms, SIGTERM ends drover within its stop
// timeout, and no stack dump or panic is among what it wrote.
func TestStuckStderrKeepsSupervising(t *testing.T) {
	t.Parallel()
	const stopTimeout = 3 * time.Second
	s := startStuck(t, []string{"DROVER_WORKERS=20", "DROVER_CRASH_LIMIT=0", "DROVER_BACKOFF_MAX=100ms",
		"DROVER_STOP_TIMEOUT=" + stopTimeout.String()}, "--", "sh", "-c", crashLoop)

	// Restarts continue while stderr takes nothing: 20 workers failing every
	// 50 ms + at most 100 ms backoff restart about 130 times a second.
	// Until the queue is full too (1024 lines, a few seconds), and then on.
	deadline := time.Now().Add(30 * time.Second)
	for s.metric(droppedOf) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still 0 after 30 s of restarts with stderr stuck", droppedOf)
		}
		time.Sleep(50 * time.Millisecond) // counters over HTTP: no event to wait on
	}
	r0, d0 := s.metric(restartsOf), s.metric(droppedOf)
	deadline = time.Now().Add(10 * time.Second)
	for s.metric(restartsOf) < r0+100 {
		if time.Now().After(deadline) {
			t.Fatalf("restarts went from %v to %v in 10 s with stderr stuck", r0, s.metric(restartsOf))
		}
		time.Sleep(50 * time.Millisecond) // counters over HTTP: no event to wait on
	}
	if d := s.metric(droppedOf); d <= d0 {
		t.Errorf("%s went from %v to %v: the restarts' lines were not dropped and counted", droppedOf, d0, d)
	}

	// A blocked supervision loop never answers; a working one answers in
	// about a millisecond. The slowest answers measure the machine's load
	// (two cores shared with other suites: with stderr on /dev/null the
	// same pool's slowest probe reaches 0.1-0.5 s there too), so the bound
	// is on the median, and every probe must answer 200 (a loop that does
	// not answer makes /livez say 503 after 2 s).
	var took []time.Duration
	for i := range 21 {
		code, body, d, err := s.get("/livez", 5*time.Second) // a hung loop answers 503 after 2 s
		if err != nil || code != 200 || body != "ok" {
			t.Fatalf("/livez #%d with stderr stuck: %d %q %v after %s", i, code, body, err, d)
		}
		took = append(took, d)
		time.Sleep(25 * time.Millisecond)
	}
	slices.Sort(took)
	t.Logf("/livez with stderr stuck, 21 probes: median %s, slowest %s", took[10], took[20])
	if took[10] > 100*time.Millisecond {
		t.Errorf("/livez median %s with stderr stuck, want within 100 ms", took[10])
	}

	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(2 * stopTimeout):
		t.Fatalf("drover still running %s after SIGTERM with stderr stuck", 2*stopTimeout)
	}
	exit := time.Since(start)
	t.Logf("exit %d %s after SIGTERM with stderr stuck", s.code, exit)
	if exit > stopTimeout {
		t.Errorf("drover took %s to exit after SIGTERM, over its stop timeout %s", exit, stopTimeout)
	}
	if s.code != 0 {
		t.Errorf("exit %d, want 0 (every worker stops on TERM)", s.code)
	}
	out := s.drain()
	for _, bad := range []string{"goroutine ", "panic", "fatal error", "DATA RACE"} {
		if strings.Contains(out, bad) {
			t.Errorf("stderr has %q:\n%s", bad, out)
		}
	}
}

// drain reads what is left in the pipe once every writer is gone.
func (s *stuckDrover) drain() string {
	s.t.Helper()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(s.r)
		got <- string(b)
	}()
	select {
	case out := <-got:
		return out
	case <-time.After(10 * time.Second):
		s.t.Error("stderr still open 10 s after drover exited: something kept it")
		return ""
	}
}

// Once stderr drains, one line says how many lines were lost, and
// drover_log_lines_dropped_total counts them.
func TestStuckStderrSaysWhatItDropped(t *testing.T) {
	t.Parallel()
	s := startStuck(t, []string{"DROVER_WORKERS=20", "DROVER_CRASH_LIMIT=0", "DROVER_BACKOFF_MAX=100ms"}, "--", "sh", "-c", crashLoop)
	deadline := time.Now().Add(30 * time.Second)
	for s.metric(droppedOf) < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v after 30 s of restarts with stderr stuck", droppedOf, s.metric(droppedOf))
		}
		time.Sleep(50 * time.Millisecond) // counters over HTTP: no event to wait on
	}
	// Read from now on, as a log shipper that came back would.
	summary := regexp.MustCompile(`^drover: warning: log lines dropped: stderr did not take them in time dropped=(\d+)$`)
	found := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(s.r)
		for sc.Scan() {
			if m := summary.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				select {
				case found <- n:
				default:
				}
			}
		}
	}()
	var n int
	select {
	case n = <-found:
	case <-time.After(10 * time.Second):
		t.Fatal("no line saying how many lines were dropped, 10 s after stderr drained")
	}
	if d := s.metric(droppedOf); n < 1 || float64(n) > d {
		t.Errorf("the summary says %d dropped, %s is %v", n, droppedOf, d)
	}
	t.Logf("first summary: %d lines dropped", n)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("drover did not stop")
	}
	if s.code != 0 {
		t.Errorf("exit %d, want 0", s.code)
	}
}

// A stderr whose reader has gone away: every line drover writes fails
// with EPIPE. drover forwards the SIGPIPE it receives to its workers, so
// its own writes must not raise one, or each log line would kill every
// worker whose program keeps SIGPIPE's default, and their restarts would
// log more lines.
func TestClosedStderrSendsWorkersNoSIGPIPE(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // nobody will ever read drover's stderr
	addr := freeAddr(t)
	record := fmt.Sprintf(`trap 'echo PIPE >> %s/pipe.$$' PIPE; echo $$ > %s/up.$$; while :; do sleep 0.1; done`, dir, dir)
	cmd := command(t, opts{env: []string{"DROVER_HEALTH_ADDR=" + addr, "DROVER_WORKERS=2"}}, "--", "sh", "-c", record)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan int, 1)
	go func() { done <- exitCode(cmd.Wait()) }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	s := &stuckDrover{t: t, addr: addr}

	waitCount := func(glob string, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			files, _ := filepath.Glob(filepath.Join(dir, glob))
			if len(files) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d files %s, want %d", len(files), glob, n)
			}
			time.Sleep(20 * time.Millisecond) // files written by shell workers: no event
		}
	}
	waitCount("up.*", 2)
	// Each TTIN and TTOU logs lines, each a write to the broken pipe.
	for range 3 {
		if err := cmd.Process.Signal(syscall.SIGTTIN); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGTTOU); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.metric(droppedOf) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v after 6 scaling steps", droppedOf, s.metric(droppedOf))
		}
		time.Sleep(20 * time.Millisecond) // counters over HTTP: no event to wait on
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "pipe.*")); len(got) != 0 {
		t.Errorf("workers got SIGPIPE from drover: %v", got)
	}
	if n, _ := s.sample(`drover_signals_forwarded_total{signal="SIGPIPE"}`); n != 0 {
		t.Errorf("drover forwarded SIGPIPE %v times", n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("drover did not stop")
	}
}
