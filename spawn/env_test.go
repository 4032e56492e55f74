package spawn

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// The real env's kill falls back to the worker alone when it left its
// process group.
func TestOSKillFallsBackToPid(t *testing.T) {
	cmd := exec.Command("sleep", "1000") // in the test's process group, not its own
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := (osEnv{}).kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("sleep ended with %v", err)
	}
}

// The real env's owners are the process group leader and the ancestors.
func TestOSOwners(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	got := osEnv{proc: "/proc"}.owners(cmd.Process.Pid)
	if len(got) < 2 || got[0] != os.Getpid() || !slices.Contains(got, os.Getppid()) {
		t.Fatalf("owners of a child %v, want this test (%d) then its parent (%d)", got, os.Getpid(), os.Getppid())
	}
	if got := (osEnv{proc: "/nonexistent"}).owners(os.Getpid()); got != nil {
		t.Fatalf("owners without /proc: %v", got)
	}
	if got := (osEnv{proc: "/proc"}).owners(1 << 30); len(got) != 0 {
		t.Fatalf("owners of a missing pid: %v", got)
	}
}

func TestOSClock(t *testing.T) {
	e := osEnv{}
	start := e.now()
	fired := make(chan struct{})
	e.afterFunc(time.Millisecond, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire")
	}
	if e.now().Before(start) {
		t.Fatal("clock went back")
	}
	if err := e.signal(os.Getpid(), 0); err != nil {
		t.Fatal(err)
	}
}

func TestSignalName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{
		syscall.SIGTERM: "SIGTERM", syscall.SIGUSR1: "SIGUSR1", syscall.SIGSTKFLT: "SIGSTKFLT",
		34: "SIGRTMIN", 37: "SIGRTMIN+3", 64: "SIGRTMIN+30", 32: "SIG32", 65: "SIG65",
	} {
		if got := SignalName(sig); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", sig, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := States(); !slices.Equal(got, []string{"starting", "ready", "stopping", "backoff", "exited", "stopped"}) {
		t.Errorf("States() = %q", got)
	}
	if got := Reasons(); !slices.Equal(got, []string{"exit", "reload", "memory", "watchdog", "startup-timeout", "oom"}) {
		t.Errorf("Reasons() = %q", got)
	}
	if phase(99).String() != "unknown" {
		t.Error("an unknown phase has a name")
	}
}

func TestNewNeedsStarter(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a Starter")
	}
	p, err := New(Config{Starter: &fakeStarter{}})
	if err != nil || p.cfg.Workers != 1 || p.cfg.BackoffMin != 100*time.Millisecond {
		t.Fatalf("defaults: %+v %v", p.cfg, err)
	}
}
