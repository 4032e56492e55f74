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

// budgetHelper is the child side of TestRealCgroupV1Quota. It waits for the
// parent to move it into the test cgroup (signalled by a line on stdin),
// then reads its budget from the real /proc and /sys and prints it.
func budgetHelper() int {
	ready := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(os.Stdin).ReadString('\n')
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper: waiting for the parent:", err)
			return 3
		}
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "helper: the parent never moved us into the cgroup")
		return 3
	}
	r := Reader{Root: "/", Warn: func(s string) { fmt.Fprintln(os.Stderr, "helper: warning:", s) }}
	b, err := r.Budget(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Printf("cores=%s\nsource=%s\n", b.Cores.RatString(), b.Source)
	return 0
}
