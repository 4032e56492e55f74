package spawn

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Reload: per slot, a new worker starts; once it is ready the old one stops.
func TestReload(t *testing.T) {
	h := newHarness(t, Config{Workers: 2, ReadyDelay: time.Second, StartupTimeout: 10 * time.Second})
	h.advance(time.Second)
	old := h.live()
	h.p.Reload()
	h.sync()
	if n := len(h.live()); n != 3 {
		t.Fatalf("%d workers during the reload, want 3 (one slot at a time)", n)
	}
	if s := h.snap(); s.Ready != 2 {
		t.Fatalf("ready %d while the replacement starts, want 2", s.Ready)
	}
	h.advance(time.Second) // slot 0's replacement is ready
	if k := h.killsOf(old[0]); len(k) != 1 {
		t.Fatalf("old worker of slot 0 got %v, want the stop signal", k)
	}
	h.obey()
	h.advance(time.Second) // slot 1's replacement is ready
	h.obey()
	s := h.snap()
	if s.Ready != 2 || s.Restarts[reasonReload] != 2 || len(s.Workers) != 2 {
		t.Fatalf("after the reload: %+v", s)
	}
	for _, w := range s.Workers {
		if w.Generation != 1 || slices.Contains(old, w.Pid) {
			t.Errorf("worker %+v is not a new one", w)
		}
	}
	if h.logs.count("reload complete") != 1 {
		t.Error("no 'reload complete'")
	}
}

// A replacement that fails before it is ready aborts the reload; the old
// worker keeps serving, and a later reload works.
func TestReloadAbort(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(h *harness)
	}{
		{"exits", func(h *harness) { h.exit(h.live()[1], 1) }},
		{"not ready in time", func(h *harness) {
			h.advance(10 * time.Second)
			h.obey()
			h.start.mu.Lock()
			h.start.gated = false
			h.start.mu.Unlock()
		}},
		{"cannot start", func(h *harness) {}},
		{"no resources", func(h *harness) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStarter{}
			h := newHarness(t, Config{Workers: 1, ReadyDelay: time.Second, StartupTimeout: 10 * time.Second, Starter: f})
			h.advance(time.Second)
			old := h.only()
			switch tc.name {
			case "not ready in time":
				f.mu.Lock()
				f.gated = true // the replacement never gets to run the program
				f.mu.Unlock()
			case "cannot start":
				f.fail(errNotExec)
			case "no resources":
				f.fail(errResources)
			}
			h.p.Reload()
			h.sync()
			tc.fail(h)
			if h.only() != old || !h.worker(old).Ready {
				t.Fatalf("old worker %d not serving after the failed reload", old)
			}
			if h.logs.count("reload aborted") != 1 {
				t.Error("no 'reload aborted'")
			}
			h.p.Reload()
			h.advance(time.Second)
			h.obey()
			if s := h.snap(); s.Ready != 1 || s.Workers[0].Pid == old || s.Restarts[reasonReload] != 1 {
				t.Fatalf("second reload: %+v", s)
			}
		})
	}
}

// A reload asked for during one runs after it, once.
func TestReloadQueued(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyDelay: time.Second, StartupTimeout: 10 * time.Second})
	h.advance(time.Second)
	h.p.Reload()
	h.p.Reload()
	h.p.Reload()
	h.sync()
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		h.obey()
	}
	s := h.snap()
	if s.Restarts[reasonReload] != 2 || s.Workers[0].Generation != 2 {
		t.Fatalf("restarts %v generation %d, want two reloads", s.Restarts, s.Workers[0].Generation)
	}
	if h.logs.count("reload queued") != 2 || h.logs.count("reload complete") != 2 {
		t.Errorf("log:\n%s", h.logs)
	}
}

// A TERM during a reload is a normal shutdown: no error lines.
func TestShutdownDuringReloadLogsNoError(t *testing.T) {
	h := newHarness(t, Config{Workers: 2, ReadyNotify: true, StartupTimeout: 10 * time.Second})
	for _, pid := range h.live() {
		h.p.Notify(pid, map[string]string{"READY": "1"})
	}
	h.p.Reload()
	h.p.Shutdown(0)
	h.sync()
	if n := len(h.live()); n != 3 {
		t.Fatalf("%d workers, want 2 old + 1 replacement", n)
	}
	h.obey()
	if r := h.result(); r.Code != 0 {
		t.Fatalf("result %+v", r)
	}
	if n := h.logs.count("level=ERROR"); n != 0 {
		t.Fatalf("%d error lines:\n%s", n, h.logs)
	}
}

// A worker that dies while its replacement starts: the replacement takes over.
func TestOldWorkerDiesDuringReload(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyDelay: time.Second, StartupTimeout: 10 * time.Second})
	h.advance(time.Second)
	old := h.only()
	h.p.Reload()
	h.sync()
	h.die(old, syscall.SIGKILL)
	h.advance(time.Second)
	if s := h.snap(); s.Ready != 1 || s.Workers[0].Pid == old {
		t.Fatalf("after the old worker died: %+v", s)
	}
}

// Both the serving worker and its replacement die: the slot restarts.
func TestReplacementAndOldDie(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyDelay: time.Second, StartupTimeout: 10 * time.Second})
	h.advance(time.Second)
	h.p.Reload()
	h.sync()
	pids := h.live()
	h.die(pids[0], syscall.SIGKILL)
	h.exit(pids[1], 1)
	h.advance(time.Second)
	if n := len(h.live()); n != 1 {
		t.Fatalf("%d workers, want the slot restarted", n)
	}
}

func TestMemoryLimit(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, MaxMemory: 100})
	old := h.only()
	h.p.SetUsage(map[int]Usage{old: {RSS: 100}, 99999: {RSS: 1 << 30}})
	h.sync()
	if len(h.live()) != 1 {
		t.Fatal("replaced at the limit, not over it")
	}
	h.p.SetUsage(map[int]Usage{old: {RSS: 101}})
	h.sync()
	// Not ready-delayed: the replacement is ready at once, the old one stops.
	if k := h.killsOf(old); len(k) != 1 {
		t.Fatalf("old worker got %v, want the stop signal", k)
	}
	h.obey()
	if s := h.snap(); s.Restarts[reasonMemory] != 1 || s.Workers[0].Pid == old || s.Ready != 1 {
		t.Fatalf("after the memory replacement: %+v", s)
	}
}

func TestWatchdog(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: time.Minute, Watchdog: time.Second})
	pid := h.only()
	h.p.Notify(pid, map[string]string{"READY": "1"})
	h.p.Notify(pid, map[string]string{"READY": "1"}) // again: still one timer chain
	h.advance(600 * time.Millisecond)
	h.p.Notify(pid, map[string]string{"WATCHDOG": "1"})
	h.advance(900 * time.Millisecond) // 1.5 s since ready, 0.9 since the ping
	if k := h.killsOf(pid); len(k) != 0 {
		t.Fatalf("killed %v although it pinged", k)
	}
	h.advance(200 * time.Millisecond)
	if k := h.killsOf(pid); len(k) != 1 || k[0] != syscall.SIGKILL {
		t.Fatalf("kills %v, want SIGKILL after a silent second", k)
	}
	h.obey()
	if s := h.snap(); s.Restarts[reasonWatchdog] != 1 {
		t.Fatalf("restarts %v, want watchdog:1", s.Restarts)
	}
	// WATCHDOG=trigger: the worker asks for it.
	pid = h.only()
	h.p.Notify(pid, map[string]string{"WATCHDOG": "trigger"})
	h.sync()
	if k := h.killsOf(pid); len(k) != 1 || k[0] != syscall.SIGKILL {
		t.Fatalf("kills %v after WATCHDOG=trigger", k)
	}
}

func TestStartupTimeout(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: time.Second, CrashLimit: 2})
	pid := h.only()
	h.advance(time.Second - time.Millisecond)
	if len(h.killsOf(pid)) != 0 {
		t.Fatal("stopped before the startup timeout")
	}
	h.advance(time.Millisecond)
	if k := h.killsOf(pid); len(k) != 1 || k[0] != syscall.SIGTERM {
		t.Fatalf("kills %v, want the stop signal", k)
	}
	if w := h.worker(pid); w.State != "stopping" {
		t.Fatalf("state %q", w.State)
	}
	h.obey()
	if s := h.snap(); s.Restarts[reasonStartup] != 1 {
		t.Fatalf("restarts %v", s.Restarts)
	}
	h.advance(time.Second)
	h.obey()
	if r := h.result(); r.Reason != "crash limit reached" {
		t.Fatalf("result %+v", r)
	}
}

// DROVER_READY=started with a delay: ready that long after exec.
func TestReadyDelay(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyDelay: 500 * time.Millisecond, StartupTimeout: time.Minute})
	if s := h.snap(); s.Ready != 0 || s.Workers[0].State != "starting" {
		t.Fatalf("ready before the delay: %+v", s.Workers)
	}
	h.advance(500 * time.Millisecond)
	if s := h.snap(); s.Ready != 1 || s.Workers[0].State != "ready" {
		t.Fatalf("not ready after the delay: %+v", s.Workers)
	}
}

// STOPPING=1 shows the worker as stopping; READY=1 takes it back.
func TestNotifyStoppingAndStatus(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: time.Minute})
	pid := h.only()
	h.env.parents[5555] = []int{5554, pid} // the app under a wrapper
	h.p.Notify(5555, map[string]string{"READY": "1", "STATUS": "serving"})
	h.p.Notify(7777, map[string]string{"READY": "1"}) // no worker's
	if w := h.worker(pid); !w.Ready || w.Status != "serving" {
		t.Fatalf("after READY=1 from a descendant: %+v", w)
	}
	h.p.Notify(pid, map[string]string{"STOPPING": "1"})
	if w := h.worker(pid); w.Ready || w.State != "stopping" {
		t.Fatalf("after STOPPING=1: %+v", w)
	}
	h.p.Notify(pid, map[string]string{"READY": "1"})
	if w := h.worker(pid); !w.Ready {
		t.Fatalf("after READY=1 again: %+v", w)
	}
	h.exit(pid, 0)
	if len(h.live()) != 1 {
		t.Fatal("not restarted")
	}
}

// The per-slot CPU counter adds up the slot's workers and never goes down.
func TestSlotCPUAccumulates(t *testing.T) {
	h := newHarness(t, Config{Workers: 1})
	pid := h.only()
	h.p.SetUsage(map[int]Usage{pid: {CPUSeconds: 5}})
	h.die(pid, syscall.SIGKILL)
	if c := h.snap().SlotCPUSeconds[0]; c != 5 {
		t.Fatalf("slot cpu %v after the worker died, want 5", c)
	}
	pid = h.only()
	h.p.SetUsage(map[int]Usage{pid: {CPUSeconds: 1.5}})
	if c := h.snap().SlotCPUSeconds[0]; c != 6.5 {
		t.Fatalf("slot cpu %v, want 6.5", c)
	}
	h.p.SetUsage(map[int]Usage{pid: {CPUSeconds: 1}}) // a lower reading
	if c := h.snap().SlotCPUSeconds[0]; c != 6.5 {
		t.Fatalf("slot cpu went down to %v", c)
	}
	// At exit, wait4's exact figure replaces the last sample.
	h.p.Exited(Exit{Pid: pid, Status: syscall.WaitStatus(1 << 8), CPUSeconds: 3})
	h.sync()
	if c := h.snap().SlotCPUSeconds[0]; c != 8 {
		t.Fatalf("slot cpu %v after an exit that used 3 s, want 8", c)
	}
}

var errNoSockets = errors.New("no sockets")

// A slot whose sockets cannot be handed out is not the command's failure:
// it is retried with backoff, never counted as a crash, and starts once
// the sockets are there.
func TestFilesError(t *testing.T) {
	var mu sync.Mutex
	fails := 3
	files := func(int) ([]*os.File, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return nil, fmt.Errorf("opening: %w", errNoSockets)
		}
		return nil, nil
	}
	h := newHarness(t, Config{Workers: 1, Restart: Never, CrashLimit: 1, BackoffMax: time.Second, Files: files})
	for i, d := range []time.Duration{100, 200, 400} {
		if len(h.live()) != 0 || h.env.pending() != 1 {
			t.Fatalf("attempt %d: live %v, %d timers", i, h.live(), h.env.pending())
		}
		h.advance(d * time.Millisecond)
	}
	if len(h.live()) != 1 {
		t.Fatal("no worker once the sockets could be opened")
	}
	if s := h.snap(); s.Workers[0].LastExit != "" || h.logs.count("cannot start workers; retrying with backoff") != 1 {
		t.Errorf("last exit %q; log:\n%s", s.Workers[0].LastExit, h.logs)
	}
}

// A long-lived worker's watchdog keeps one timer, not one per period.
func TestWatchdogKeepsOneTimer(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: time.Second, Watchdog: time.Second})
	pid := h.only()
	h.p.Notify(pid, map[string]string{"READY": "1"})
	for i := 0; i < 100; i++ {
		h.p.Notify(pid, map[string]string{"WATCHDOG": "1"})
		h.advance(600 * time.Millisecond)
	}
	if n := h.env.pending(); n != 1 {
		t.Fatalf("%d timers pending, want the watchdog's one (the startup timeout has fired)", n)
	}
	if len(h.killsOf(pid)) != 0 {
		t.Fatal("a pinging worker was killed")
	}
}
