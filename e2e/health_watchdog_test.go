package e2e

// Workers replaced for what they do rather than how they exit: a watchdog
// that stops hearing WATCHDOG=1, and a memory limit.

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A worker that stops sending WATCHDOG=1 for DROVER_WATCHDOG is killed and
// restarted with reason watchdog; the other worker keeps running.
func TestHealthWatchdogKillsSilentWorker(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_WATCHDOG=500ms", "HZ_PING=100ms",
		"DROVER_READY=notify", "HZ_READY=1"}, workerArgs(t, "hz-worker")...)
	infos := d.infos(2)
	for pid, kv := range infos {
		if kv["WATCHDOG_USEC"] != "500000" || kv["WATCHDOG_PID"] != strconv.Itoa(pid) || kv["NOTIFY_SOCKET"] == "" {
			t.Errorf("worker %d sees WATCHDOG_USEC=%q WATCHDOG_PID=%q NOTIFY_SOCKET=%q; want 500000, its own pid, set",
				pid, kv["WATCHDOG_USEC"], kv["WATCHDOG_PID"], kv["NOTIFY_SOCKET"])
		}
	}
	d.waitStatus("2 ready", 5*time.Second, readyIs(2))
	d.waitLog(`worker started`, 2, 10*time.Second) // drover's log may lag its state
	pids := d.workerPids()
	keep, victim := pids[0][0], pids[1][0]

	// Pinging workers outlive several watchdog periods.
	throughout(t, 1200*time.Millisecond, "pinging workers undisturbed (2 ready, no watchdog restart)", func() (statusDoc, bool) {
		s := d.status()
		return s, s.Ready == 2 && s.Restarts["watchdog"] == 0
	})

	hung := time.Now()
	d.trigger("hang", victim, "")
	d.waitLog(`worker sent no WATCHDOG=1 in time; killing it worker=1 pid=`+strconv.Itoa(victim)+` DROVER_WATCHDOG=500ms`, 1, 5*time.Second)
	// The last ping went out at most 100 ms before the trigger was seen.
	if el := time.Since(hung); el < 300*time.Millisecond || el > 3*time.Second {
		t.Errorf("killed %s after the pings stopped, want about 500ms", el)
	}
	s := d.waitStatus("slot 1 restarted and ready", 10*time.Second, func(s statusDoc) bool {
		return s.Ready == 2 && len(s.Workers) == 2 && s.Workers[1].Pid != victim
	})
	if w := s.Workers[1]; w.LastExit != "signal SIGKILL" || w.Restarts != 1 {
		t.Errorf("restarted worker %+v, want last exit signal SIGKILL, 1 restart", w)
	}
	if w := s.Workers[0]; w.Pid != keep || w.Restarts != 0 {
		t.Errorf("the pinging worker was disturbed: %+v, want pid %d", w, keep)
	}
	if len(d.workerPids()[0]) != 1 {
		t.Errorf("slot 0 was restarted: %v", d.workerPids())
	}
	mfs := d.metrics()
	if v := metricValue(t, mfs, "drover_worker_restarts_total", "reason", "watchdog"); v != 1 {
		t.Errorf("drover_worker_restarts_total{reason=watchdog} = %v, want 1", v)
	}
	if v := metricValue(t, mfs, "drover_worker_restarts_total", "reason", "exit"); v != 0 {
		t.Errorf("drover_worker_restarts_total{reason=exit} = %v, want 0", v)
	}
	// The new worker's WATCHDOG_PID is its own pid, not its predecessor's.
	newPid := s.Workers[1].Pid
	if kv := d.infos(3)[newPid]; kv["WATCHDOG_PID"] != strconv.Itoa(newPid) {
		t.Errorf("restarted worker %d sees WATCHDOG_PID=%q", newPid, kv["WATCHDOG_PID"])
	}
	d.stop()
}

// A worker whose RSS passes DROVER_MAX_MEMORY is replaced gracefully: its
// successor is ready before it gets SIGTERM, so /readyz never fails, and
// the other worker is left alone.
func TestHealthMemoryLimitReplacesWorker(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_MAX_MEMORY=64Mi", "DROVER_MIN_READY=100%",
		"DROVER_READY=notify", "HZ_READY=1", "HZ_READY_DELAY=300ms"}, workerArgs(t, "hz-worker")...)
	d.infos(2)
	s := d.waitStatus("2 ready with RSS sampled", 10*time.Second, func(s statusDoc) bool {
		return s.Ready == 2 && s.Workers[0].RSS > 0 && s.Workers[1].RSS > 0
	})
	for _, w := range s.Workers {
		if w.RSS > 48<<20 {
			t.Fatalf("worker %d uses %d MiB idle, too close to the 64Mi limit for this test", w.ID, w.RSS>>20)
		}
	}
	keep, victim := s.Workers[0].Pid, s.Workers[1].Pid

	// /readyz must pass throughout: with DROVER_MIN_READY=100% a moment
	// without a ready worker in slot 1 would show.
	stop := make(chan struct{})
	readyz := pollHealth(d.addr, "/readyz", stop)

	d.trigger("alloc", victim, "100")
	waitFile(t, filepath.Join(d.dir, "alloced."+strconv.Itoa(victim)), "100", 10*time.Second)
	d.waitLog(`worker uses more memory than allowed; replacing it worker=1 pid=`+strconv.Itoa(victim)+` rss=\d+ DROVER_MAX_MEMORY=67108864`, 1, 10*time.Second)
	d.waitLog(`worker replaced worker=1 pid=\d+ reason=memory`, 1, 10*time.Second)
	m := regexp.MustCompile(`worker replaced worker=1 pid=(\d+) reason=memory`).FindStringSubmatch(strings.Join(d.lines(), "\n"))
	successor, _ := strconv.Atoi(m[1])

	readyAt := parseNanos(t, waitFile(t, filepath.Join(d.dir, "ready."+strconv.Itoa(successor)), `^\d+$`, 5*time.Second))
	termAt := parseNanos(t, waitFile(t, filepath.Join(d.dir, "term."+strconv.Itoa(victim)), `^\d+$`, 5*time.Second))
	if !readyAt.Before(termAt) {
		t.Errorf("the old worker got SIGTERM %s before its successor was ready", readyAt.Sub(termAt))
	}
	s = d.waitStatus("the old worker gone", 10*time.Second, func(s statusDoc) bool { return len(s.Workers) == 2 && s.Ready == 2 })
	close(stop)
	var bad []int
	for _, p := range <-readyz {
		if p.code != http.StatusOK {
			bad = append(bad, p.code)
		}
	}
	if len(bad) > 0 {
		t.Errorf("/readyz failed during the replacement: %v", bad)
	}
	if w := s.Workers[1]; w.Pid != successor || w.Restarts != 1 || s.Restarts["memory"] != 1 {
		t.Errorf("slot 1 %+v restarts %v; want pid %d, 1 restart for memory", w, s.Restarts, successor)
	}
	if w := s.Workers[0]; w.Pid != keep || w.Restarts != 0 || fileExists(filepath.Join(d.dir, "term."+strconv.Itoa(keep))) {
		t.Errorf("the other worker was disturbed: %+v", w)
	}
	if v := metricValue(t, d.metrics(), "drover_worker_restarts_total", "reason", "memory"); v != 1 {
		t.Errorf("drover_worker_restarts_total{reason=memory} = %v, want 1", v)
	}
	t.Logf("successor ready %s before the old worker got SIGTERM", termAt.Sub(readyAt))
	d.stop()
}
