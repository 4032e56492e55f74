package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// listenHelper runs the worker modes of the socket tests.
//
//	listen-http  HTTP on every inherited socket: "/" answers pid, worker
//	             id and socket name; "/env" the LISTEN_* variables;
//	             "/creds" the Uid, Gid, Groups, CapPrm and CapEff lines
//	             of /proc/self/status.
//	listen-fds   publishes the fd listing of testdata/listen/fds.sh, then
//	             waits for SIGTERM.
//
// Both write $LISTEN_OUT/<worker>.<pid> once they are up, so tests wait for
// a file instead of guessing when a worker is serving.
func listenHelper(mode string) (int, bool) {
	switch mode {
	case "listen-http":
		return serveInherited(), true
	case "listen-fds":
		return recordFDs(), true
	}
	return 0, false
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
		// can look at drover while this worker is still stopping.
		markUp(string(listing) + "term\n")
		for {
			if _, err := os.Stat(hold); err == nil {
				return 0
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return 0
}

func markUp(content string) {
	dir := os.Getenv("LISTEN_OUT")
	if dir == "" {
		return
	}
	name := filepath.Join(dir, os.Getenv("DROVER_WORKER_ID")+"."+strconv.Itoa(os.Getpid()))
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte("up\n"+content), 0o644); err == nil {
		os.Rename(tmp, name)
	}
}
