package e2e

// Worker modes of the signal tests (see worker_test.go for the protocol):
//
//	sig-record  records every signal it receives, one stderr line each
//	sigconf     ignores and blocks signals, then execs its arguments

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigWorker runs the signal tests' modes; ok is false for any other mode.
func sigWorker(mode string) (code int, ok bool) {
	switch mode {
	case "sig-record":
		return sigRecord(), true
	case "sigconf":
		return sigConf(), true
	}
	return 0, false
}

// sigRecord is dumb-init's print_signals: it subscribes to every signal and
// writes "sig-record ID got N" to stderr for each (drover's stderr, so the
// test waits on drover's log instead of polling). It writes
// "sig-record ID ready pid=P" once its handlers are in place and, with
// SIG_READY=1, then sends READY=1. SIG_DELAY makes it wait before
// subscribing: the window in which a forwarded QUIT or HUP would still kill
// it, which drover must not send into. SIG_QUIET=1 drops the per-signal
// lines (a storm). It exits 0 on SIGTERM, after recording it.
func sigRecord() int {
	// Never outlive drover, or a failed test leaves recorders behind.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	id := os.Getenv("DROVER_WORKER_ID")
	if d, err := time.ParseDuration(os.Getenv("SIG_DELAY")); err == nil {
		time.Sleep(d)
	}
	ch := make(chan os.Signal, 256)
	signal.Notify(ch)
	fmt.Fprintf(os.Stderr, "sig-record %s ready pid=%d\n", id, os.Getpid())
	if os.Getenv("SIG_READY") == "1" {
		sdNotify("READY=1")
	}
	quiet := os.Getenv("SIG_QUIET") == "1"
	for s := range ch {
		sig := s.(syscall.Signal)
		// URG is the Go runtime's own preemption signal; CHLD is about
		// children this process does not have.
		if sig == syscall.SIGURG || sig == syscall.SIGCHLD {
			continue
		}
		if !quiet {
			fmt.Fprintf(os.Stderr, "sig-record %s got %d\n", id, int(sig))
		}
		if sig == syscall.SIGTERM {
			return 0
		}
	}
	return 1
}

// sigConf is tini's sigconf-test: set SIG_IGN for the numbers in
// SIGCONF_IGN, block those in SIGCONF_BLK, and exec the arguments, so the
// test can see what drover hands on of the state it inherited. GOCOVERDIR
// comes back from SIGCONF_COVER (workerArgs drops it for the worker itself).
func sigConf() int {
	for _, n := range sigNums(os.Getenv("SIGCONF_IGN")) {
		// A raw rt_sigaction: os/signal cannot ignore every signal
		// (SEGV, for one), and this is what a C parent does.
		act := struct {
			handler, flags, restorer uintptr
			mask                     uint64
		}{handler: 1} // SIG_IGN
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(n), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
			fmt.Fprintln(os.Stderr, "sigconf: ignore", n, e)
			return 1
		}
	}
	var set unix.Sigset_t
	for _, n := range sigNums(os.Getenv("SIGCONF_BLK")) {
		set.Val[(n-1)/64] |= 1 << ((n - 1) % 64)
	}
	// The mask is per thread and exec keeps the calling thread's.
	runtime.LockOSThread()
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		fmt.Fprintln(os.Stderr, "sigconf: block:", err)
		return 1
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, workerEnv+"=") && !strings.HasPrefix(kv, "SIGCONF_") {
			env = append(env, kv)
		}
	}
	env = append(env, "GOCOVERDIR="+os.Getenv("SIGCONF_COVER"))
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sigconf:", err)
		return 1
	}
	err = syscall.Exec(path, os.Args[1:], env)
	fmt.Fprintln(os.Stderr, "sigconf: exec:", err)
	return 1
}

// sigNums parses "1,2,15".
func sigNums(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 && n <= 64 {
			out = append(out, n)
		}
	}
	return out
}
