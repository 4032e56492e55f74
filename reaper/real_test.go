package reaper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const helperEnv = "DROVER_REAPER_TEST_HELPER"

// TestMain doubles as the helper of the real Cleanup tests: the test binary
// re-runs itself as PID 1 of a new PID namespace, or as a subreaper.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(cleanupHelper(mode))
	}
	os.Exit(m.Run())
}

// orphanScript leaves three orphans: two plain sleeps and one that ignores
// SIGTERM, so SIGKILL is needed. The ignored disposition is set before the
// fork (and survives exec), so it is in place before the shell exits.
const orphanScript = `trap '' TERM; sleep 30 & trap - TERM; sleep 30 & sleep 30 & exit 0`

// cleanupHelper starts orphanScript, waits for its shell to be reaped, runs
// Cleanup and prints what it found and what is left.
func cleanupHelper(mode string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "helper: "+format+"\n", a...)
		return 1
	}
	if mode == "pid1" {
		if os.Getpid() != 1 {
			return fail("pid %d, want 1", os.Getpid())
		}
		// Our own /proc, so that its pids are the ones kill() takes.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fail("mount --make-rprivate /: %v", err)
		}
		if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
			return fail("mount proc: %v", err)
		}
	}
	if err := Subreaper(); err != nil {
		return fail("%v", err)
	}
	r := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits := make(chan int, 16)
	go func() { _ = r.Run(ctx, func(e Exit) { exits <- e.Pid }) }()

	cmd := exec.Command("/bin/sh", "-c", orphanScript)
	lock := r.ForkLock()
	lock.Lock()
	err := cmd.Start()
	lock.Unlock()
	if err != nil {
		return fail("%v", err)
	}
	timeout := time.After(20 * time.Second)
	for pid := 0; pid != cmd.Process.Pid; {
		select {
		case pid = <-exits:
		case <-timeout:
			return fail("the shell never exited")
		}
	}
	start := time.Now()
	n := r.Cleanup(200 * time.Millisecond)
	took := time.Since(start)
	fmt.Printf("found=%d left=%d took_ms=%d\n", n, len(r.children()), took.Milliseconds())
	return 0
}

func runHelper(t *testing.T, mode string, attr *syscall.SysProcAttr) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.SysProcAttr = attr
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
			t.Skipf("skipping: cannot create the namespace: %v", err)
		}
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	t.Logf("helper (%s): %s%s", mode, stdout.String(), stderr.String())
	return strings.TrimSpace(stdout.String())
}

func checkCleanup(t *testing.T, out string) {
	t.Helper()
	var found, left, took int
	if _, err := fmt.Sscanf(out, "found=%d left=%d took_ms=%d", &found, &left, &took); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	if found != 3 || left != 0 {
		t.Errorf("Cleanup found %d orphans and left %d, want 3 and 0", found, left)
	}
	if took < 200 {
		t.Errorf("Cleanup took %d ms: the orphan that ignores SIGTERM cannot be gone before the 200 ms grace", took)
	}
}

// As PID 1 of a PID namespace: orphans of a finished shell, one of them
// ignoring SIGTERM, are all gone after Cleanup.
func TestCleanupRealPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: a PID namespace needs root")
	}
	out := runHelper(t, "pid1", &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS})
	checkCleanup(t, out)
}

// The same as a child subreaper, outside any namespace.
func TestCleanupRealSubreaper(t *testing.T) {
	out := runHelper(t, "subreaper", nil)
	checkCleanup(t, out)
}
