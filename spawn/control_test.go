package spawn

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// A plain init stops with the signal it received: INT stays INT for the
// child's whole process group, a repeated INT is passed on again, and the
// stop timer still ends in SIGKILL.
func TestShutdownWithKeepsTheSignal(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, Restart: Never})
	pid := h.only()
	h.p.ShutdownWith(syscall.SIGINT)
	h.sync()
	h.p.ShutdownWith(syscall.SIGINT)
	h.sync()
	if got := h.killsOf(pid); !slices.Equal(got, []syscall.Signal{syscall.SIGINT, syscall.SIGINT}) {
		t.Fatalf("process group got %v, want INT twice", got)
	}
	h.advance(h.p.cfg.StopTimeout)
	if got := h.killsOf(pid); got[len(got)-1] != syscall.SIGKILL {
		t.Fatalf("after the stop timeout the group got %v, want a final SIGKILL", got)
	}
	h.die(pid, syscall.SIGKILL)
	if r := h.result(); r.Code != 128+int(syscall.SIGKILL) {
		t.Fatalf("result %+v, want the child's status 137", r)
	}
}

// Job control reaches the worker's process group, not only its leader.
func TestSignalGroup(t *testing.T) {
	h := newHarness(t, Config{Workers: 1})
	pid := h.only()
	for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGCONT} {
		h.p.SignalGroup(sig)
	}
	h.sync()
	if got := h.killsOf(pid); !slices.Equal(got, []syscall.Signal{syscall.SIGTSTP, syscall.SIGCONT}) {
		t.Fatalf("process group got %v, want TSTP then CONT", got)
	}
	if s := h.snap(); s.Signals["SIGTSTP"] != 1 || s.Signals["SIGCONT"] != 1 {
		t.Fatalf("forwarded counts %v, want TSTP and CONT once each", s.Signals)
	}
}

// A burst of reaped pids is one message: orphans are counted and a worker
// in the burst is handled like a single exit.
func TestExitedAll(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, Restart: Never})
	pid := h.only()
	h.p.ExitedAll([]Exit{{Pid: 90001}, {Pid: 90002}, {Pid: pid, Status: syscall.WaitStatus(3 << 8)}})
	h.p.ExitedAll(nil)
	if r := h.result(); r.Code != 3 {
		t.Fatalf("result %+v, want the worker's 3", r)
	}
}

// Job control in a pool: a worker stopped by TSTP is not ready (nor
// counted for /readyz) until CONT; a shutdown while it is stopped sends the
// stop signal and then CONT, so it stops in time instead of being killed;
// its watchdog waits for it.
func TestStoppedWorkers(t *testing.T) {
	h := newHarness(t, Config{Workers: 2, Watchdog: time.Second})
	pids := h.live()
	h.p.Signal(syscall.SIGTSTP)
	h.sync()
	s := h.snap()
	if s.Ready != 0 || s.Workers[0].State != "stopped" || s.Workers[0].Ready {
		t.Fatalf("after TSTP: ready %d, %+v", s.Ready, s.Workers)
	}
	h.advance(5 * time.Second) // silent for five watchdog periods, but stopped
	if len(h.killsOf(pids[0])) != 0 {
		t.Fatalf("a stopped worker was killed by its watchdog: %v", h.killsOf(pids[0]))
	}
	h.p.Signal(syscall.SIGCONT)
	h.sync()
	if s := h.snap(); s.Ready != 2 || s.Workers[0].State != "ready" {
		t.Fatalf("after CONT: ready %d, %+v", s.Ready, s.Workers)
	}
	h.advance(999 * time.Millisecond) // its watchdog clock started again at CONT
	if len(h.killsOf(pids[0])) != 0 {
		t.Fatal("the watchdog fired before a full period after CONT")
	}
	h.p.Notify(pids[0], map[string]string{"WATCHDOG": "1"})
	h.p.Notify(pids[1], map[string]string{"WATCHDOG": "1"})

	// Stopped again, then shut down.
	h.p.Signal(syscall.SIGTSTP)
	h.p.Shutdown(0)
	h.sync()
	for _, pid := range pids {
		if got := h.killsOf(pid); !slices.Equal(got, []syscall.Signal{syscall.SIGTERM, syscall.SIGCONT}) {
			t.Errorf("worker %d got %v, want SIGTERM then SIGCONT", pid, got)
		}
	}
	h.obey()
	if r := h.result(); r.Code != 0 {
		t.Errorf("result %+v, want 0: the stopped workers stopped in time", r)
	}
}

// A TSTP held for a worker that was not ready yet stops it when delivered;
// SignalGroup marks and wakes like forwarding; a worker that was never
// stopped gets no CONT on stop.
func TestStoppedWorkerHeldAndGroup(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, Starter: &fakeStarter{gated: true}})
	pid := h.only()
	h.p.Signal(syscall.SIGTSTP)
	h.execd(pid)
	h.advance(time.Second) // started mode: a worker counts once it has run 1 s
	if s := h.snap(); s.Ready != 0 || s.Workers[0].State != "stopped" {
		t.Fatalf("held TSTP delivered: ready %d, %+v", s.Ready, s.Workers)
	}
	h.p.SignalGroup(syscall.SIGCONT)
	h.sync()
	if s := h.snap(); s.Ready != 1 {
		t.Fatalf("after a group CONT: ready %d", s.Ready)
	}
	h.p.SignalGroup(syscall.SIGTTOU)
	h.sync()
	if s := h.snap(); s.Ready != 0 {
		t.Fatalf("after a group TTOU: ready %d", s.Ready)
	}
	h.p.SignalGroup(syscall.SIGCONT)
	h.p.Shutdown(0)
	h.sync()
	if got := h.killsOf(pid); !slices.Equal(got, []syscall.Signal{syscall.SIGCONT, syscall.SIGTTOU, syscall.SIGCONT, syscall.SIGTERM}) {
		t.Errorf("worker got %v: no CONT after TERM for a running worker", got)
	}
}
