package e2e

// The one harness: start drover (optionally as PID 1 of a new PID
// namespace, optionally with its health server), wait for log lines, send
// signals, stop it and check its exit code. HTTP to the health server and
// to the workers is in http_test.go.

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

// gorace makes a race in drover or a worker end it with 66, and drops the
// race runtime's 1 s sleep at exit, which every process would pay on every
// stop; races are still reported.
const gorace = "GORACE=halt_on_error=1 exitcode=66 atexit_sleep_ms=0"

// drover is a running drover under test.
type drover struct {
	t    *testing.T
	cmd  *exec.Cmd
	pid  int // drover's pid as seen from the test (host namespace)
	mu   sync.Mutex
	log  []string
	more chan struct{} // signalled on every new stderr line
	done chan struct{} // closed when drover has exited
	code int

	addr  string // with opts.health: host:port of the health server
	dir   string // with opts.health: $HZ_DIR, the hz-workers' trigger files
	noLog bool   // with opts.stderr: the test reads drover's stderr itself
}

type opts struct {
	env   []string // DROVER_* and anything else, added to a minimal environment
	pidns bool     // run as PID 1 of a new PID namespace
	// health starts the health server on a port the kernel picks, read back
	// from drover's log so parallel tests never race for a port, and gives
	// hz-workers a trigger directory ($HZ_DIR).
	health bool
	stdin  io.Reader
	// shell, when set, is a shell line run first that ends by exec'ing
	// drover ("$@"), e.g. to join a cgroup before drover starts.
	shell string
	// wrap is a command that execs drover (its argv is appended).
	wrap []string
	// extra are descriptors drover inherits as fds 3, 4, ….
	extra []*os.File
	// container, when set, is the podman command line up to the image,
	// whose entrypoint is drover; it replaces the binary under test.
	container []string
	// stderr, when set, is drover's stderr in place of the pipe the
	// harness reads its log from: a pipe the test reads (or does not read)
	// itself. waitLog, count and lines see nothing then. start leaves the
	// test's copy open.
	stderr *os.File
}

// argv is the command line that runs drover with args under o.
func (o opts) argv(args []string) []string {
	sourcesOnce.Do(func() { readSources("..") })
	bin := []string{droverBin}
	if o.container != nil {
		bin = o.container
	}
	argv := append(append(append([]string(nil), o.wrap...), bin...), args...)
	if o.shell != "" {
		argv = append([]string{"sh", "-c", o.shell + `; exec "$@"`, "sh"}, argv...)
	}
	if o.pidns {
		argv = append([]string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"}, argv...)
	}
	return argv
}

// baseEnv is what every drover gets before the test's own variables; a
// later entry for the same name wins.
func baseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=/root", "DROVER_HEALTH_ADDR=off", gorace, "GOCOVERDIR=" + coverDir,
	}
}

// command is drover as a one-shot command, for runs the test only needs the
// output and exit code of.
// It is killed, failing the test, if it is still running after
// commandLimit, so that a hang fails fast instead of at go test's timeout.
func command(t *testing.T, o opts, args ...string) *exec.Cmd {
	t.Helper()
	if o.pidns {
		require(t, "root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	t.Cleanup(cancel)
	cmd := o.cmd(ctx, args)
	cmd.Cancel = func() error {
		if ctx.Err() != context.DeadlineExceeded {
			return cmd.Process.Kill() // the test ended and left it running
		}
		t.Errorf("drover still running after %v, killed: %q", commandLimit, cmd.Args)
		if h := qemuHang(cmd.Process.Pid); h != "" {
			t.Log(h)
		}
		return cmd.Process.Kill() // and --kill-child takes the namespace with it
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// cmd is the unstarted command that runs drover with args under o.
func (o opts) cmd(ctx context.Context, args []string) *exec.Cmd {
	argv := o.argv(args)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(baseEnv(), o.env...)
	cmd.Stdin = o.stdin
	cmd.ExtraFiles = o.extra
	return cmd
}

// commandLimit bounds a one-shot command; the slowest takes seconds.
const commandLimit = 2 * time.Minute

// start runs drover with args; the test ends it if it is still alive.
func start(t *testing.T, o opts, args ...string) *drover {
	t.Helper()
	d := &drover{t: t, more: make(chan struct{}, 1), done: make(chan struct{})}
	if o.health {
		d.dir = t.TempDir()
		o.env = append([]string{"DROVER_HEALTH_ADDR=127.0.0.1:0", "HZ_DIR=" + d.dir}, o.env...)
	}
	if o.pidns {
		require(t, "root")
	}
	d.cmd = o.cmd(context.Background(), args)
	d.cmd.Stdout = os.Stdout
	d.noLog = o.stderr != nil
	var logW *os.File // the harness's copy of the log pipe's write end
	if d.noLog {
		d.cmd.Stderr = o.stderr
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		d.cmd.Stderr, logW = w, w
		go d.readLog(r)
	}
	err := d.cmd.Start()
	if logW != nil {
		logW.Close() // drover has its own: the reader sees EOF when drover exits
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		err := d.cmd.Wait()
		d.code = exitCode(err)
		close(d.done)
	}()
	d.pid = d.cmd.Process.Pid
	if o.pidns {
		d.pid = d.child(d.cmd.Process.Pid)
	}
	t.Cleanup(d.cleanup)
	if o.health {
		d.addr = d.waitLog(`health server listening addr=(\S+)`, 1, 10*time.Second)[1]
	}
	return d
}

// startHealth is the common case of the health tests: drover as PID 1 with
// its health server.
func startHealth(t *testing.T, env []string, args ...string) *drover {
	t.Helper()
	return start(t, opts{pidns: true, health: true, env: env}, args...)
}

// cleanup ends a drover the test left running. SIGTERM first, so that it
// still writes its coverage counters; SIGKILL (and --kill-child for the
// namespace) only if it does not stop in time.
func (d *drover) cleanup() {
	if d.t.Failed() {
		if h := qemuHang(d.cmd.Process.Pid); h != "" {
			d.t.Log(h)
		}
	}
	select {
	case <-d.done:
	default:
		_ = syscall.Kill(d.pid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			_ = syscall.Kill(d.pid, syscall.SIGKILL)
			<-d.done
		}
	}
	if d.t.Failed() && !d.noLog {
		d.settleLog()
		d.t.Logf("drover's log:\n%s", strings.Join(d.lines(), "\n"))
	}
}

// child finds the first child of pid (drover, under unshare), or pid if
// it exited before.
func (d *drover) child(pid int) int {
	d.t.Helper()
	return eventually(d.t, 10*time.Second, "drover to start under unshare", func() (int, bool) {
		if c := children(pid); len(c) > 0 {
			return c[0], true
		}
		select {
		case <-d.done:
			return pid, true
		default:
			return 0, false
		}
	})
}

// exitCode is the status as a shell reports it: 128+n for death by signal n.
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

func (d *drover) readLog(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		d.mu.Lock()
		d.log = append(d.log, sc.Text())
		d.mu.Unlock()
		select {
		case d.more <- struct{}{}:
		default:
		}
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

// waitLog waits until n lines match re, or fails the test after timeout.
// It returns the submatches of the first matching line.
func (d *drover) waitLog(re string, n int, timeout time.Duration) []string {
	d.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for d.count(re) < n {
		select {
		case <-d.more:
		case <-d.done:
			d.settleLog()
			if d.count(re) < n {
				d.t.Fatalf("drover exited (code %d) before %d log lines matched %q", d.code, n, re)
			}
		case <-deadline.C:
			d.t.Fatalf("timed out after %s waiting for %d log lines matching %q (have %d)", timeout, n, re, d.count(re))
		}
	}
	rx := regexp.MustCompile(re)
	for _, l := range d.lines() {
		if m := rx.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	return nil
}

// settleLog gives the log reader a moment to collect drover's last lines
// (a panic, a race report) before a failure prints the log.
func (d *drover) settleLog() {
	for {
		select {
		case <-d.more:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// alive fails the test if drover has exited: for waits inside eventually
// that only make sense while it runs.
func (d *drover) alive(what string) {
	d.t.Helper()
	select {
	case <-d.done:
		d.settleLog()
		d.t.Fatalf("drover exited (code %d) while waiting for %s", d.code, what)
	default:
	}
}

func (d *drover) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := syscall.Kill(d.pid, sig); err != nil {
		d.t.Fatalf("kill %d %v: %v", d.pid, sig, err)
	}
}

// wait returns drover's exit code, failing the test after timeout.
func (d *drover) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
		return d.code
	case <-time.After(timeout):
		d.t.Fatalf("drover did not exit within %s", timeout)
		return -1
	}
}

// stopWith sends sig and expects drover to exit with want.
func (d *drover) stopWith(sig syscall.Signal, want int) {
	d.t.Helper()
	d.signal(sig)
	if code := d.wait(15 * time.Second); code != want {
		d.settleLog()
		d.t.Fatalf("drover exited %d after %v, want %d", code, sig, want)
	}
}

// stop is the usual end: SIGTERM, and every worker stops in time, so 0.
func (d *drover) stop() {
	d.t.Helper()
	d.stopWith(syscall.SIGTERM, 0)
}

// workerPids lists the pids of started workers, from drover's log, in order.
func (d *drover) workerPids() map[int][]int {
	rx := regexp.MustCompile(`worker started worker=(\d+) pid=(\d+)`)
	out := map[int][]int{}
	for _, l := range d.lines() {
		if m := rx.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[2])
			out[id] = append(out[id], pid)
		}
	}
	return out
}

// killWorker SIGKILLs the current worker of slot id without waiting for
// a replacement, which may never come.
func (d *drover) killWorker(id int) int {
	d.t.Helper()
	pids := d.workerPids()[id]
	if len(pids) == 0 {
		d.t.Fatalf("slot %d has no worker", id)
	}
	pid := pids[len(pids)-1]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		d.t.Fatalf("kill -9 worker %d pid %d: %v", id, pid, err)
	}
	return len(pids)
}

// killAndReplace SIGKILLs the current worker of slot id and waits for its
// replacement; it returns the replacement's pid.
func (d *drover) killAndReplace(id int) int {
	d.t.Helper()
	started := d.killWorker(id)
	d.waitLog(fmt.Sprintf(`worker started worker=%d `, id), started+1, 10*time.Second)
	pids := d.workerPids()[id]
	return pids[len(pids)-1]
}

// noCrash fails on the signs of a drover that crashed or misreported a
// refused fork: a Go stack dump, a runtime abort, "exit 126".
func (d *drover) noCrash() {
	d.t.Helper()
	d.noStackDump()
	for _, bad := range []string{`pthread_create`, `failed to create new OS thread`, `exit 126`, `SIGABRT`} {
		if n := d.count(bad); n > 0 {
			d.t.Errorf("%d log lines match %q", n, bad)
		}
	}
}
