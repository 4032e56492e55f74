package e2e

// Issue 17: job control in a pool. After TSTP a TERM used to wait for
// stopped workers until SIGKILL (137), and /readyz said 200 throughout.

import (
	"syscall"
	"testing"
	"time"
)

// TSTP stops every worker: /readyz fails and /status shows them stopped;
// CONT brings them back; TERM while they are stopped sends the stop signal
// and CONT, so they end by SIGTERM within the stop timeout and drover
// exits 0.
func TestPoolStoppedByTSTP(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_STOP_TIMEOUT=20s"}, "sleep", "1000")
	d.waitStatus("2 ready", 10*time.Second, readyIs(2))
	stopped := func(s statusDoc) bool {
		return s.Ready == 0 && len(s.Workers) == 2 && s.Workers[0].State == "stopped" && s.Workers[1].State == "stopped"
	}
	d.signal(syscall.SIGTSTP)
	d.waitStatus("both workers stopped", 10*time.Second, stopped)
	if code, _ := d.get("/readyz"); code != 503 {
		t.Errorf("/readyz %d while every worker is stopped, want 503", code)
	}
	d.signal(syscall.SIGCONT)
	d.waitStatus("2 ready again", 10*time.Second, readyIs(2))
	d.expect("/readyz", 200, "ok")

	d.signal(syscall.SIGTSTP)
	d.waitStatus("both workers stopped again", 10*time.Second, stopped)
	began := time.Now()
	d.stop() // exit 0: nobody had to be killed
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("stopping took %s: the workers waited for SIGKILL", took)
	}
	if n := d.count(`worker stopped worker=\d pid=\d+ status="signal SIGTERM"`); n != 2 {
		t.Errorf("%d workers ended by SIGTERM, want 2", n)
	}
}
