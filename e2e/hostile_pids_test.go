package e2e

// Issue 10, item 1: an absurd worker count in a pids-limited cgroup. drover
// refuses what the container cannot hold, caps auto sizing and SIGTTIN,
// survives forks that fail with EAGAIN, and leaves no process behind.

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHostilePidsLimitRefusesAbsurdWorkers(t *testing.T) {
	cg := pidsCgroup(t, 300)
	out, err := command(t, opts{shell: cg.join(), env: []string{"DROVER_WORKERS=1000"}}, "sleep", "1000").CombinedOutput()
	if code := exitCode(err); code != 2 {
		t.Errorf("DROVER_WORKERS=1000 under pids.max 300: exit %d, want 2; output %q", code, out)
	}
	line := strings.TrimSpace(string(out))
	if strings.Contains(line, "\n") || !strings.Contains(line, `DROVER_WORKERS="1000"`) || !strings.Contains(line, "pids.max 300") {
		t.Errorf("want one line naming DROVER_WORKERS and pids.max 300, got %q", line)
	}
	if procs := cg.procs(); len(procs) != 0 {
		t.Errorf("processes left in the cgroup: %v", procs)
	}
}

// auto with 4096 workers per CPU starts exactly the cap the cgroup allows,
// and SIGTTIN beyond it is refused with one line.
func TestHostilePidsLimitCapsAutoAndTTIN(t *testing.T) {
	cg := pidsCgroup(t, 300)
	d := start(t, opts{health: true, shell: cg.join(),
		env: []string{"DROVER_WORKERS=auto", "DROVER_WORKERS_PER_CPU=4096"}}, "sleep", "1000")
	m := d.waitLog(`^drover: (\d+) workers: .* capped at (\d+) by pids\.max 300 \((\d+) in use\)`, 1, 10*time.Second)
	n, _ := strconv.Atoi(m[1])
	inUse, _ := strconv.Atoi(m[3])
	if capped, _ := strconv.Atoi(m[2]); n != capped || n < 1 || 2*n > 300-inUse {
		t.Fatalf("sized at %d workers, capped at %d with %d pids in use: the cap leaves no room", n, capped, inUse)
	}
	t.Logf("auto sized at the cap: %d workers (%d pids in use at start)", n, inUse)
	d.waitLog(fmt.Sprintf(`worker started worker=%d `, n-1), 1, 30*time.Second)
	if st := d.status(); st.Desired != n || len(st.Workers) != n {
		t.Errorf("/status: desired %d, %d workers; want %d", st.Desired, len(st.Workers), n)
	}
	d.signal(syscall.SIGTTIN)
	d.waitLog(`not adding a worker: the pool is at its maximum`, 1, 5*time.Second)
	if st := d.status(); st.Desired != n {
		t.Errorf("after SIGTTIN beyond the cap: desired %d, want %d", st.Desired, n)
	}
	d.stop()
	if got := d.count(`worker started`); got != n {
		t.Errorf("%d workers started, want %d", got, n)
	}
	if got := d.count(`not adding a worker`); got != 1 {
		t.Errorf("%d refusal lines for one SIGTTIN, want 1", got)
	}
	d.noCrash()
	if procs := cg.procs(); len(procs) != 0 {
		t.Errorf("processes left in the cgroup: %v", procs)
	}
}

// Forks that really fail with EAGAIN (pids.max lowered below what runs):
// drover retries without crashing, counting or reporting 126, logs one line
// per streak, recovers when pids come back, and SIGTERM during a streak
// ends it promptly with nothing left in the cgroup.
func TestHostileForkEAGAIN(t *testing.T) {
	const n = 4
	cg := pidsCgroup(t, 300)
	d := start(t, opts{health: true, shell: cg.join(),
		env: []string{"DROVER_WORKERS=" + strconv.Itoa(n), "DROVER_CRASH_LIMIT=3", "DROVER_BACKOFF_MAX=200ms"}}, "sleep", "1000")
	d.waitLog(fmt.Sprintf(`worker started worker=%d `, n-1), 1, 10*time.Second)

	starve := func(streak int) {
		cg.set("pids.max", 1)
		for _, pids := range d.workerPids() {
			_ = syscall.Kill(pids[len(pids)-1], syscall.SIGKILL)
		}
		d.waitLog(`cannot start workers for lack of resources; retrying with backoff`, streak, 10*time.Second)
	}
	starve(1)
	cg.set("pids.max", 300)
	d.waitLog(`workers start again`, 1, 10*time.Second)
	d.waitLog(`worker started`, 2*n, 10*time.Second)
	if st := d.status(); st.Desired != n {
		t.Errorf("after recovery: desired %d, want %d", st.Desired, n)
	}

	starve(2)
	// The retries go on while starved: more than the crash limit of 3 (my two kills count 2),
	// given 1 s at a backoff of at most 200 ms.
	select {
	case <-d.done:
		t.Fatalf("drover exited %d while forks failed", d.code)
	case <-time.After(time.Second):
	}
	began := time.Now()
	d.stop()
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("SIGTERM during failing forks took %s", took)
	}
	if got := d.count(`lack of resources`); got != 2 {
		t.Errorf("%d lack-of-resources lines for two streaks, want 2", got)
	}
	d.noCrash()
	for _, bad := range []string{`giving up`, `cannot start worker `} {
		if d.count(bad) > 0 {
			t.Errorf("a refused fork was treated as a broken command (%q)", bad)
		}
	}
	if procs := cg.procs(); len(procs) != 0 {
		t.Errorf("processes left in the cgroup after drover exited: %v", procs)
	}
}

// A worker that forks until the cgroup is full, as a fork bomb or a leaky
// app would: drover's runtime finds no pid for a new thread (it used to
// abort with "pthread_create failed"), the other slot's restarts fail with
// EAGAIN, drover rides it out, and SIGTERM still ends every process in the
// cgroup, the bomb's children included.
func TestHostileForkBombFillsCgroup(t *testing.T) {
	const max = 80
	// bash, unlike dash, survives a failed fork: it retries with backoff,
	// so the bomb stays alive and keeps the cgroup full.
	bash := program(t, "bash")
	cg := pidsCgroup(t, max)
	bomb := `if [ "$DROVER_WORKER_ID" = 0 ]; then while :; do sleep 1000 & done 2>/dev/null; fi; exec sleep 1000`
	d := start(t, opts{health: true, shell: cg.join(),
		env: []string{"DROVER_WORKERS=2", "DROVER_CRASH_LIMIT=3", "DROVER_BACKOFF_MAX=200ms"}}, bash, "-c", bomb)
	d.waitLog(`worker started worker=1 `, 1, 10*time.Second)
	// The cgroup fills as fast as sh forks; pids.current has no event.
	eventually(t, 10*time.Second, fmt.Sprintf("the fork bomb to fill the cgroup (pids.max %d)", max), func() (string, bool) {
		n := cg.get("pids.current")
		return fmt.Sprintf("pids.current %d", n), n >= max
	})
	// The kill frees one pid; the restart usually takes it (bash sleeps
	// between its fork retries), leaving drover's runtime none for a new
	// thread; or bash wins, and the restart fails with EAGAIN.
	d.killWorker(1)
	d.waitLog(`worker started worker=1 |lack of resources`, 2, 10*time.Second)
	if d.count(`lack of resources`) == 0 {
		// Keep the pid the next kill frees from the restart too.
		cg.set("pids.max", max-4)
		d.killWorker(1)
		d.waitLog(`cannot start workers for lack of resources; retrying with backoff`, 1, 10*time.Second)
	}
	// The health server reads /proc for every worker: system calls that
	// may each want a thread while not one pid is free.
	for i := 0; i < 5; i++ {
		if st := d.status(); st.Desired != 2 {
			t.Errorf("/status with a full cgroup: desired %d, want 2", st.Desired)
		}
		d.metrics()
	}
	began := time.Now()
	d.signal(syscall.SIGTERM)
	code := d.wait(15 * time.Second)
	t.Logf("SIGTERM with a full cgroup: drover exited %d after %s, %d processes in the cgroup when it began", code, time.Since(began).Round(time.Millisecond), max)
	if code != 0 {
		t.Errorf("drover exited %d, want 0", code)
	}
	d.settleLog()
	d.noCrash()
	if procs := cg.procs(); len(procs) != 0 {
		t.Errorf("%d processes left in the cgroup after drover exited: %v", len(procs), procs)
	}
}
