package e2e

// The worker protocol. Every Go worker of the suite is this test binary run
// again with E2E_WORKER=<mode>; TestMain sees the variable and runs the mode
// instead of the tests. The mode travels through env(1) in the worker's
// command line, not drover's environment: drover rejects DROVER_* names it
// does not know, and env execs, so LISTEN_PID still matches. README.md
// lists the modes.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// workerEnv selects the worker mode; see workerMain.
const workerEnv = "E2E_WORKER"

// workerArgs is the command line that runs this test binary as a worker in
// mode, with env added to its environment. GOCOVERDIR is dropped so that a
// test binary built with -cover does not mix its counters into drover's.
func workerArgs(t *testing.T, mode string, env ...string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return workerCommand(exe, mode, env...)
}

// workerCommand is workerArgs for a copy of the test binary at exe.
func workerCommand(exe, mode string, env ...string) []string {
	return append(append([]string{"env", "-u", "GOCOVERDIR", workerEnv + "=" + mode}, env...), exe)
}

// workerMain runs a worker mode; its result is the exit code.
//
//	hz-worker    steered through files in $HZ_DIR; see triggerWorker
//	listen-http  HTTP on every inherited socket; see serveInherited
//	listen-fds   publishes testdata/listen/fds.sh's fd listing, waits for
//	             SIGTERM; see recordFDs
func workerMain(mode string) int {
	switch mode {
	case "hz-worker":
		return triggerWorker()
	case "listen-http":
		return serveInherited()
	case "listen-fds":
		return recordFDs()
	}
	if code, ok := sigWorker(mode); ok {
		return code
	}
	if code, ok := oomWorkerMode(mode); ok {
		return code
	}
	fmt.Fprintln(os.Stderr, "unknown", workerEnv, "mode", mode)
	return 99
}

// triggerWorker is a worker the tests steer through files in $HZ_DIR,
// each named after the worker's pid so that a restarted worker in the same
// slot does not obey its predecessor's triggers:
//
//	info.PID    written at start: what the worker sees (pid, WATCHDOG_*, …)
//	send.PID    the test drops a datagram here; it goes to $NOTIFY_SOCKET as is
//	hang.PID    stop sending WATCHDOG=1
//	alloc.PID   allocate and touch that many MiB
//	orphan.PID  leave one orphan behind for drover to reap
//	ready.PID   written once HZ_READY sent READY=1: when, in Unix nanoseconds
//	term.PID    written on SIGTERM: when it came, in Unix nanoseconds
//
// HZ_READY=1 sends READY=1 (and STATUS=$HZ_STATUS) once serving, after
// HZ_READY_DELAY; HZ_PING=100ms sends WATCHDOG=1 that often. With
// LISTEN_FDS=1 it serves HTTP on fd 3 and stops like a well-behaved app:
// http.Server.Shutdown on SIGTERM, finishing the requests in flight.
func triggerWorker() int {
	// Never outlive drover, or a failed test leaves workers polling forever.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	dir := os.Getenv("HZ_DIR")
	pid := os.Getpid()
	file := func(name string) string { return filepath.Join(dir, name+"."+strconv.Itoa(pid)) }

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	// Forwarded signals must not kill the worker (Go's default for USR1/2).
	signal.Notify(make(chan os.Signal, 8), syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGQUIT)

	var srv *http.Server
	var ln net.Listener
	busy := newBusyConns()
	stopping := make(chan struct{}) // closed once SIGTERM arrived
	if os.Getenv("LISTEN_FDS") == "1" {
		var err error
		ln, err = net.FileListener(os.NewFile(3, "listen"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "hz-worker:", err)
			return 1
		}
		srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ms, err := strconv.Atoi(r.URL.Query().Get("sleep_ms")); err == nil {
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}
			if r.URL.Query().Get("until_stop") != "" {
				// A request in flight when the stop phase begins, whatever
				// the machine's load: it ends only after SIGTERM.
				select {
				case <-stopping:
				case <-time.After(30 * time.Second):
				}
				time.Sleep(200 * time.Millisecond)
			}
			fmt.Fprintf(w, "worker %s pid %d\n", os.Getenv("DROVER_WORKER_ID"), pid)
		}), ConnState: busy.track}
		go func() { _ = srv.Serve(ln) }()
	}

	info := fmt.Sprintf("pid=%d\nworker=%s\nWATCHDOG_USEC=%s\nWATCHDOG_PID=%s\nNOTIFY_SOCKET=%s\n",
		pid, os.Getenv("DROVER_WORKER_ID"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getenv("NOTIFY_SOCKET"))
	_ = writeAtomic(file("info"), info)

	if os.Getenv("HZ_READY") == "1" {
		go func() {
			d, _ := time.ParseDuration(os.Getenv("HZ_READY_DELAY"))
			time.Sleep(d)
			msg := "READY=1"
			if st := os.Getenv("HZ_STATUS"); st != "" {
				msg += "\nSTATUS=" + st
			}
			// The time is taken before READY=1 goes out: drover may stop
			// the predecessor the moment it arrives, and the test compares
			// the two.
			at := time.Now().UnixNano()
			sdNotify(msg)
			_ = writeAtomic(file("ready"), strconv.FormatInt(at, 10))
		}()
	}
	if every, err := time.ParseDuration(os.Getenv("HZ_PING")); err == nil {
		go func() {
			for {
				if _, err := os.Stat(file("hang")); err == nil {
					return // a hung app: alive, but the watchdog hears nothing
				}
				sdNotify("WATCHDOG=1")
				time.Sleep(every)
			}
		}()
	}

	var hog [][]byte // kept reachable so the memory stays resident
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-term:
			runtime.KeepAlive(hog)
			_ = writeAtomic(file("term"), strconv.FormatInt(time.Now().UnixNano(), 10))
			close(stopping)
			if srv != nil {
				_ = ln.Close()
				busy.wait(10 * time.Second)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := srv.Shutdown(ctx)
				cancel()
				// Shutdown closes the listeners Serve still tracks, and
				// Serve stops tracking ln only once it has seen it closed:
				// closing it twice is no failure to stop.
				if err != nil && !errors.Is(err, net.ErrClosed) {
					fmt.Fprintln(os.Stderr, "hz-worker: shutdown:", err)
					return 1
				}
			}
			return 0
		case <-tick.C:
		}
		if _, err := os.Stat(dir); err != nil {
			return 3 // the test is gone
		}
		if b, err := os.ReadFile(file("send")); err == nil {
			os.Remove(file("send"))
			sdNotify(string(b))
		}
		if b, err := os.ReadFile(file("alloc")); err == nil {
			os.Remove(file("alloc"))
			mib, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			buf := make([]byte, mib<<20)
			for i := 0; i < len(buf); i += 4096 {
				buf[i] = 1 // untouched pages are not resident
			}
			hog = append(hog, buf)
			_ = writeAtomic(file("alloced"), strconv.Itoa(mib))
		}
		if _, err := os.Stat(file("orphan")); err == nil {
			os.Remove(file("orphan"))
			// sh exits at once and is reaped here; its sleep is orphaned
			// and reparented to drover.
			_ = exec.Command("sh", "-c", "sleep 0.1 &").Run()
		}
	}
}

// busyConns tracks the connections that are accepted but neither idle nor
// closed. net/http drops a request that it reads after Shutdown began (the
// connection closes unanswered), so on SIGTERM the hz-worker closes its
// listener, waits for every accepted connection to be answered, and only
// then calls Shutdown.
type busyConns struct {
	mu      sync.Mutex
	busy    map[net.Conn]bool
	changed chan struct{} // signalled on every change of state
}

func newBusyConns() *busyConns {
	return &busyConns{busy: map[net.Conn]bool{}, changed: make(chan struct{}, 1)}
}

func (b *busyConns) track(c net.Conn, s http.ConnState) {
	b.mu.Lock()
	if s == http.StateNew || s == http.StateActive {
		b.busy[c] = true
	} else {
		delete(b.busy, c)
	}
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// wait returns once no connection is busy, or after timeout.
func (b *busyConns) wait(timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		n := len(b.busy)
		b.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-b.changed:
		case <-deadline.C:
			return
		}
	}
}

var notifyMu sync.Mutex

// sdNotify is sd_notify(3): one datagram to $NOTIFY_SOCKET. Go maps a
// leading "@" to the abstract namespace itself, as sd_notify does.
func sdNotify(msg string) {
	notifyMu.Lock()
	defer notifyMu.Unlock()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hz-worker: notify:", err)
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		fmt.Fprintln(os.Stderr, "hz-worker: notify:", err)
	}
}

// writeAtomic writes through a temporary file and a rename, so that a
// reader never sees half a file.
func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// checkListenPID is the check sd_listen_fds(3) makes: sockets are only
// ours when LISTEN_PID is our pid.
func checkListenPID() (int, error) {
	if got := os.Getenv("LISTEN_PID"); got != strconv.Itoa(os.Getpid()) {
		return 0, fmt.Errorf("LISTEN_PID=%q but my pid is %d", got, os.Getpid())
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("LISTEN_FDS=%q", os.Getenv("LISTEN_FDS"))
	}
	return n, nil
}

// serveInherited serves HTTP on every inherited socket: "/" answers pid,
// worker id and socket name; "/env" the LISTEN_* variables; "/creds" the
// Uid, Gid, Groups, CapPrm and CapEff lines of /proc/self/status. Like
// recordFDs it writes $LISTEN_OUT/<worker>.<pid> once it is up, so tests
// wait for a file instead of guessing when a worker is serving.
func serveInherited() int {
	n, err := checkListenPID()
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen-http:", err)
		return 5
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	id := os.Getenv("DROVER_WORKER_ID")
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		l, err := net.FileListener(os.NewFile(uintptr(3+i), "listen"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "listen-http: fd %d: %v\n", 3+i, err)
			return 6
		}
		name := ""
		if i < len(names) {
			name = names[i]
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "pid=%d worker=%s name=%s\n", os.Getpid(), id, name)
		})
		mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "pid=%d\n", os.Getpid())
			for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "DROVER_WORKER_ID", "DROVER_WORKERS"} {
				fmt.Fprintf(w, "%s=%s\n", k, os.Getenv(k))
			}
		})
		mux.HandleFunc("/creds", func(w http.ResponseWriter, _ *http.Request) {
			b, _ := os.ReadFile("/proc/self/status")
			for _, l := range strings.Split(string(b), "\n") {
				if k, _, _ := strings.Cut(l, ":"); k == "Uid" || k == "Gid" || k == "Groups" || k == "CapPrm" || k == "CapEff" {
					fmt.Fprintln(w, l)
				}
			}
		})
		go func() { errs <- http.Serve(l, mux) }()
	}
	markUp("")
	fmt.Fprintln(os.Stderr, "listen-http:", <-errs)
	return 1
}

// recordFDs waits for SIGTERM after publishing the descriptor listing
// that fds.sh made before exec'ing this mode. The listing is made by ls in
// the shell, not here: the Go runtime opens descriptors of its own at start
// (cgroup files for GOMAXPROCS, epoll for stdio) that would blur what
// drover passed.
func recordFDs() int {
	if _, err := checkListenPID(); err != nil {
		fmt.Fprintln(os.Stderr, "listen-fds:", err)
		return 5
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	listing, err := os.ReadFile(os.Getenv("FDS_FILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen-fds:", err)
		return 6
	}
	markUp(string(listing))
	<-term
	if hold := os.Getenv("HOLD_TERM"); hold != "" {
		// Stay alive after the stop signal until the test lets go, so it
		// can look at drover while this worker is still stopping: hold is
		// a FIFO, and opening it for reading returns once the test opens
		// it for writing (drover's stop timeout bounds the wait).
		markUp(string(listing) + "term\n")
		f, err := os.Open(hold)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen-fds:", err)
			return 7
		}
		f.Close()
	}
	return 0
}

func markUp(content string) {
	dir := os.Getenv("LISTEN_OUT")
	if dir == "" {
		return
	}
	_ = writeAtomic(filepath.Join(dir, os.Getenv("DROVER_WORKER_ID")+"."+strconv.Itoa(os.Getpid())), "up\n"+content)
}
