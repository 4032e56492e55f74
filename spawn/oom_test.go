package spawn

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

const oomLimit = "memory limit 96Mi: cgroup v1 memory.limit_in_bytes 100663296 at /sys/fs/cgroup/memory/x"

// oomKill reaps pid as killed by SIGKILL with the OOM killer's counter up.
func (h *harness) oomKill(pid int) {
	h.p.Exited(Exit{Pid: pid, Status: syscall.WaitStatus(syscall.SIGKILL), OOM: oomLimit})
	h.sync()
}

// A worker the OOM killer chose is named as such: one line with the
// limit, its last exit in /status, and a restart counted as "oom".
func TestOOMKillNamed(t *testing.T) {
	h := newHarness(t, Config{Workers: 2})
	pid := h.slotPid(1)
	h.oomKill(pid)
	want := "worker 1 (pid " + itoa(pid) + ") was killed by the OOM killer (" + oomLimit + ")"
	if h.logs.count(want) != 1 {
		t.Errorf("no log line %q", want)
	}
	if h.logs.count(`status="signal SIGKILL (OOM killer)"`) != 1 {
		t.Error("the restart line does not name the OOM killer")
	}
	s := h.snap()
	if s.Restarts[reasonOOM] != 1 || s.Restarts[reasonExit] != 0 {
		t.Errorf("restarts %v, want oom:1", s.Restarts)
	}
	if w := h.worker(h.slotPid(1)); w.LastExit != "signal SIGKILL (OOM killer)" {
		t.Errorf("last exit %q", w.LastExit)
	}
	// An OOM kill is a failed start: the next one in a row backs off.
	h.oomKill(h.slotPid(1))
	if h.logs.count("was killed by the OOM killer") != 2 || h.logs.count(`failures=2`) != 1 {
		t.Errorf("second OOM kill not counted as the second failure in a row:\n%s", h.logs.String())
	}
}

// The OOM hint is believed only for a SIGKILL that drover did not send:
// the stop timeout's, the watchdog's, a stop signal of KILL. Other deaths
// are what they are.
func TestOOMHintIgnored(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		kill func(h *harness, pid int)
	}{
		{"exit status", Config{Workers: 1}, func(h *harness, pid int) {
			h.p.Exited(Exit{Pid: pid, Status: syscall.WaitStatus(1 << 8), OOM: oomLimit})
		}},
		{"another signal", Config{Workers: 1}, func(h *harness, pid int) {
			h.p.Exited(Exit{Pid: pid, Status: syscall.WaitStatus(syscall.SIGSEGV), OOM: oomLimit})
		}},
		{"stop timeout", Config{Workers: 1, StopTimeout: time.Second}, func(h *harness, pid int) {
			h.p.Shutdown(0)
			h.advance(time.Second)
			h.oomKill(pid)
		}},
		{"stop signal KILL", Config{Workers: 1, StopSignal: syscall.SIGKILL}, func(h *harness, pid int) {
			h.p.Shutdown(0)
			h.sync()
			h.oomKill(pid)
		}},
		{"watchdog", Config{Workers: 1, Watchdog: time.Second}, func(h *harness, pid int) {
			h.advance(time.Second)
			h.oomKill(pid)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			pid := h.only()
			tc.kill(h, pid)
			h.sync()
			if n := h.logs.count("OOM"); n != 0 {
				t.Errorf("%d lines name the OOM killer:\n%s", n, h.logs.String())
			}
		})
	}
}

// A replacement killed by the OOM killer during a reload aborts the
// reload, and the slot's last exit says why.
func TestOOMKillOfReplacement(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyDelay: time.Second, StartupTimeout: 10 * time.Second})
	h.advance(time.Second)
	old := h.only()
	h.p.Reload()
	h.sync()
	var next int
	for _, p := range h.live() {
		if p != old {
			next = p
		}
	}
	h.oomKill(next)
	if h.logs.count("was killed by the OOM killer") != 1 {
		t.Error("no OOM line for the replacement")
	}
	if w := h.worker(old); w.LastExit != "signal SIGKILL (OOM killer)" {
		t.Errorf("slot's last exit %q", w.LastExit)
	}
	// Stopped during shutdown, an OOM-killed replaced worker still says so.
	h.p.Reload()
	h.sync()
	h.advance(time.Second) // the new replacement is ready; old is being stopped
	h.oomKill(old)
	if !strings.Contains(h.logs.String(), `msg="worker stopped" worker=0 pid=`+itoa(old)+` status="signal SIGKILL (OOM killer)"`) {
		t.Errorf("replaced worker's exit does not name the OOM killer:\n%s", h.logs.String())
	}
}
