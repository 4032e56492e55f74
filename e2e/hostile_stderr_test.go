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
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

// stuckDrover is drover with its stderr on a pipe the test does not read
// until it says so, and its health server on a fixed loopback address
// (its log line cannot be read).
type stuckDrover struct {
	*drover
	r *os.File // the read end of drover's stderr
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
	s := &stuckDrover{r: r}
	// Registered before start, so that it runs after the harness has
	// stopped drover: what is left in the pipe can then be read to the end.
	t.Cleanup(func() {
		if t.Failed() && s.drover != nil {
			lines := strings.Split(s.drain(), "\n")
			t.Logf("drover exited %d; the last of its stderr:\n%s", s.code, strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
		r.Close()
	})
	addr := freeAddr(t)
	s.drover = start(t, opts{stderr: w, env: append([]string{"DROVER_HEALTH_ADDR=" + addr}, env...)}, args...)
	w.Close()
	s.addr = addr
	// A pipe filling up sends no event.
	eventually(t, 10*time.Second, "drover's stderr pipe to fill (no room for one more line: its writer is blocked)", func() (string, bool) {
		s.alive("its stderr to fill")
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ) // FIONREAD: bytes waiting in the pipe
		if err != nil {
			t.Fatalf("TIOCINQ: %v", err)
		}
		return fmt.Sprintf("%d bytes in the pipe", n), n > 4096-200
	})
	return s
}

// timedGet asks the health server, bounded by timeout, and says how long
// it took.
func (s *stuckDrover) timedGet(path string, timeout time.Duration) (int, string, time.Duration, error) {
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

// scrape reads /metrics, allowing a slow answer (drover's loop has work
// queued behind the stuck stderr).
func (s *stuckDrover) scrape() map[string]*dto.MetricFamily {
	s.t.Helper()
	code, body, _, err := s.timedGet("/metrics", 5*time.Second)
	if err != nil || code != 200 {
		s.t.Fatalf("GET /metrics: %d %v", code, err)
	}
	return parseMetrics(s.t, body)
}

// dropped is drover_log_lines_dropped_total.
func (s *stuckDrover) dropped() float64 { return metricValue(s.t, s.scrape(), droppedOf, "", "") }

// restarts is how many workers were restarted after they exited.
func (s *stuckDrover) restarts() float64 {
	return metricValue(s.t, s.scrape(), "drover_worker_restarts_total", "reason", "exit")
}

const (
	crashLoop = "sleep 0.05; exit 1"
	droppedOf = "drover_log_lines_dropped_total"
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
	eventually(t, 30*time.Second, "the first dropped line with stderr stuck", func() (float64, bool) {
		d := s.dropped()
		return d, d > 0
	})
	r0, d0 := s.restarts(), s.dropped()
	eventually(t, 10*time.Second, fmt.Sprintf("100 restarts after %v with stderr stuck", r0), func() (float64, bool) {
		r := s.restarts()
		return r, r >= r0+100
	})
	if d := s.dropped(); d <= d0 {
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
		code, body, d, err := s.timedGet("/livez", 5*time.Second) // a hung loop answers 503 after 2 s
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

	began := time.Now()
	s.signal(syscall.SIGTERM)
	code := s.wait(2 * stopTimeout)
	exit := time.Since(began)
	t.Logf("exit %d %s after SIGTERM with stderr stuck", code, exit)
	if exit > stopTimeout {
		t.Errorf("drover took %s to exit after SIGTERM, over its stop timeout %s", exit, stopTimeout)
	}
	if code != 0 {
		t.Errorf("exit %d, want 0 (every worker stops on TERM)", code)
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
	eventually(t, 30*time.Second, "10 dropped lines with stderr stuck", func() (float64, bool) {
		d := s.dropped()
		return d, d >= 10
	})
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
	if d := s.dropped(); n < 1 || float64(n) > d {
		t.Errorf("the summary says %d dropped, %s is %v", n, droppedOf, d)
	}
	t.Logf("first summary: %d lines dropped", n)
	s.stop()
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
	s := &stuckDrover{drover: start(t, opts{stderr: w, env: []string{"DROVER_HEALTH_ADDR=" + addr, "DROVER_WORKERS=2"}}, "--", "sh", "-c", record)}
	w.Close()
	s.addr = addr

	// Files written by shell workers: no event.
	eventually(t, 10*time.Second, "2 workers to write "+dir+"/up.*", func() ([]string, bool) {
		files, _ := filepath.Glob(filepath.Join(dir, "up.*"))
		return files, len(files) >= 2
	})
	// Each TTIN and TTOU logs lines, each a write to the broken pipe.
	for range 3 {
		s.signal(syscall.SIGTTIN)
		s.signal(syscall.SIGTTOU)
	}
	eventually(t, 10*time.Second, "6 scaling steps' lines dropped", func() (float64, bool) {
		d := s.dropped()
		return d, d >= 6
	})
	if got, _ := filepath.Glob(filepath.Join(dir, "pipe.*")); len(got) != 0 {
		t.Errorf("workers got SIGPIPE from drover: %v", got)
	}
	if n, _ := metricSample(s.scrape(), "drover_signals_forwarded_total", "signal", "SIGPIPE"); n != 0 {
		t.Errorf("drover forwarded SIGPIPE %v times", n)
	}
	s.stop()
}
