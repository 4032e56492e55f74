package cpus

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMain doubles as the helper process of the real-cgroup test: the test
// binary re-runs itself, is moved into a cgroup, and reports its budget.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(budgetHelper())
	}
	os.Exit(m.Run())
}

// runLocked runs f on a goroutine locked to its OS thread, so that
// per-thread state (the affinity mask) changed by f stays with f and the
// thread is thrown away afterwards instead of being reused by other tests.
// f must not call t.FailNow or t.Skip: it is not the test goroutine.
func runLocked(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// Never unlocked: the goroutine's exit terminates the thread.
		f()
	}()
	<-done
}

const helperEnv = "DROVER_CPUS_TEST_HELPER"

// budgetHelper is the child side of the real-cgroup tests. The parent moves
// it into a test cgroup, then sends one command per line; each answer is one
// line read from the real /proc and /sys at that moment:
//
//	budget  ->  cores=3/2 source=cgroup v1 quota ...
//	limit   ->  limit=137 reason=pids.max 300 (10 in use) at ...
//
// It ends at EOF, or after 60 s without a command.
func budgetHelper() int {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	r := Reader{Root: "/", Warn: func(s string) { fmt.Fprintln(os.Stderr, "helper: warning:", s) }}
	for {
		var cmd string
		var ok bool
		select {
		case cmd, ok = <-lines:
			if !ok {
				return 0
			}
		case <-time.After(60 * time.Second):
			fmt.Fprintln(os.Stderr, "helper: no command from the parent")
			return 3
		}
		switch cmd {
		case "budget":
			b, err := r.Budget(0)
			if err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 1
			}
			fmt.Printf("cores=%s source=%s\n", b.Cores.RatString(), b.Source)
		case "limit":
			l := r.WorkerLimit(4096)
			fmt.Printf("limit=%d reason=%s\n", l.Workers, l.Reason)
		default:
			fmt.Fprintf(os.Stderr, "helper: unknown command %q\n", cmd)
			return 2
		}
	}
}
