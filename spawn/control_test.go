package spawn

import (
	"slices"
	"syscall"
	"testing"
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
