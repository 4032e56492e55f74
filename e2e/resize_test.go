package e2e

// Following the CPU budget while drover runs (an in-place pod resize): the
// quota of a real cgroup v1, or DROVER_CPU_FILE, changes under a running
// pool, and the pool grows at the first reading that asks for more, shrinks
// once every reading over a dwell (the recheck period, at least 10 s)
// agrees, keeps a manual TTIN/TTOU until SIGHUP, and says why in one log
// line, /status and /metrics.
//
// The tests run in parallel: the default recheck of 10 s makes the first
// one take half a minute, most of it waiting on drover's clock.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// resizeLine is the one log line of a change from → to workers, whose
// budget went from old to the new cores read from source.
func resizeLine(from, to int, old string, cores int, source string) string {
	return regexp.QuoteMeta(fmt.Sprintf(`drover: resizing the pool from=%d to=%d why="%d → %d workers: cpu budget was %s, now %d (%s), rounding ceil"`,
		from, to, from, to, old, cores, source))
}

const anyResize = `resizing the pool`

// shrinkDwell is how long a lower budget must hold before the pool shrinks
// (internal/cpus.MinShrinkDwell; the recheck period when that is longer).
const shrinkDwell = 10 * time.Second

// A pod resized from 1 to 2 CPUs and back, at the default recheck of 10 s:
// 2 workers within 15 s, 1 again within 30 s of the lower quota and only
// after two readings agreed, a line saying why each time, /status and
// /metrics in step, and the worker that stays is never restarted.
func TestResizeFollowsCgroupQuota(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	cg := cpuCgroup(t, 1)
	d := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto"}}, "--", "sleep", "1000")
	d.waitLog(`worker started worker=0 `, 1, 10*time.Second)
	reads := watchReads(t, cg.file("cpu.cfs_quota_us"), "")
	first := d.workerPids()[0]

	cg.setCores(2)
	d.waitLog(resizeLine(1, 2, "1", 2, cg.source(2)), 1, 15*time.Second)
	d.waitLog(`worker started worker=1 `, 1, 5*time.Second)
	checkBudget(t, d, 2, 1, 1, cg.source(2))

	cg.setCores(1)
	base := reads.count()
	d.waitLog(resizeLine(2, 1, "2", 1, cg.source(1)), 1, 30*time.Second)
	if n := reads.count() - base; n < 2 {
		t.Errorf("the pool shrank after %d reading of the lower quota, want 2 that agree", n)
	}
	d.waitLog(`worker stopped worker=1 pid=\d+ status="signal SIGTERM"`, 1, 10*time.Second)
	checkBudget(t, d, 1, 2, 2, cg.source(1))

	st := d.status()
	if len(st.Workers) != 1 || st.Workers[0].Pid != first[0] || st.Workers[0].Restarts != 0 {
		t.Errorf("worker 0 was %d; /status now shows %+v: the surviving worker was restarted", first[0], st.Workers)
	}
	if n := d.count(anyResize); n != 2 {
		t.Errorf("%d resize lines, want 2", n)
	}
	d.stop()
	if pids := d.workerPids(); len(pids[0]) != 1 || len(pids[1]) != 1 {
		t.Errorf("workers started %v, want one per slot: no restarts", pids)
	}
}

// checkBudget asserts /status and /metrics after the changes-th change to
// a budget of cores from source, with the previous budget from.
func checkBudget(t *testing.T, d *drover, cores, from float64, changes uint64, source string) {
	t.Helper()
	st := d.status()
	c := st.CPU
	if st.Desired != int(cores) || c.Cores != cores || c.Exact != strconv.Itoa(int(cores)) || c.Source != source || c.Changes != changes {
		t.Errorf("/status: desired %d, cpu %+v; want %v workers from %v cores (%s), change %d", st.Desired, c, cores, cores, source, changes)
	}
	if lc := c.LastChange; lc == nil || lc.From != from || lc.To != cores || lc.Source != source || time.Since(lc.Time) > time.Minute {
		t.Errorf("/status cpu.last_change %+v, want %v → %v from %s, just now", lc, from, cores, source)
	}
	if !strings.Contains(c.Reason, source) {
		t.Errorf("/status cpu.reason %q does not name %s", c.Reason, source)
	}
	got := canonMetrics(d.metrics(), "drover_cpu_budget_cores", "drover_cpu_budget_changes_total", "drover_workers_desired")
	want := fmt.Sprintf(`# TYPE drover_cpu_budget_cores gauge
drover_cpu_budget_cores %v
# TYPE drover_cpu_budget_changes_total counter
drover_cpu_budget_changes_total %d
# TYPE drover_workers_desired gauge
drover_workers_desired %v
`, cores, changes, cores)
	if got != want {
		t.Errorf("/metrics:\n%s\nwant:\n%s", got, want)
	}
}

// An in-place resize seen through DROVER_CPU_FILE, the Downward API volume
// file the kubelet updates while the environment stays as it was.
func TestResizeFollowsCPUFile(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	dir := t.TempDir()
	file := filepath.Join(dir, "cpu_limit")
	writeAtomically(t, file, "1000\n")
	d := start(t, opts{health: true, env: []string{oneReader, "DROVER_WORKERS=auto", "DROVER_CPU_FILE=" + file, "DROVER_CPU_RECHECK=300ms"}},
		"--", "sleep", "1000")
	d.waitLog(regexp.QuoteMeta("drover: 1 worker: cpu budget 1 (DROVER_CPU_FILE "+file+" = 1000m)"), 1, 10*time.Second)
	reads := watchReads(t, dir, "cpu_limit")
	source := func(m int) string { return fmt.Sprintf("DROVER_CPU_FILE %s = %dm", file, m) }

	writeAtomically(t, file, "2000\n")
	d.waitLog(resizeLine(1, 2, "1", 2, source(2000)), 1, 5*time.Second)
	d.waitLog(`worker started worker=1 `, 1, 5*time.Second)
	checkBudget(t, d, 2, 1, 1, source(2000))

	base := reads.count()
	lowered := time.Now()
	writeAtomically(t, file, "1000\n")
	d.waitLog(resizeLine(2, 1, "2", 1, source(1000)), 1, 20*time.Second)
	if n, held := reads.count()-base, time.Since(lowered); n < 2 || held < shrinkDwell-150*time.Millisecond {
		t.Errorf("the pool shrank after %d readings of the lower budget in %s, want every reading over %s", n, held, shrinkDwell)
	}
	checkBudget(t, d, 1, 2, 2, source(1000))
	if n := d.count(`cpu budget: .*DROVER_CPU_FILE`); n != 0 {
		t.Errorf("%d warnings about DROVER_CPU_FILE: an atomic update was read half-written", n)
	}
	d.stop()
}

// A quota that flips between 1 and 2 CPUs at every reading grows the pool
// once and never shrinks it: no two readings in a row agree on 1. Once the
// quota stays at 1, the reading a dwell later shrinks the pool.
//
// The test flips the quota when it sees a reading (inotify), and must do
// so before drover's next one, a recheck later. On a machine so loaded
// that it cannot, two readings in a row see the same quota and the case
// is not the one under test: the attempt says so and the test starts over
// with a fresh drover, at most three times.
func TestResizeFlappingQuotaDoesNotFlap(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	for attempt := 1; attempt <= 3; attempt++ {
		var flipped bool
		t.Run(fmt.Sprintf("attempt%d", attempt), func(t *testing.T) { flipped = testFlapping(t) })
		if flipped || t.Failed() {
			return
		}
	}
	t.Fatal("in three attempts the test never flipped the quota between two readings of drover")
}

// testFlapping is one attempt of TestResizeFlappingQuotaDoesNotFlap; it
// reports false if a reading came before the test could flip the quota.
func testFlapping(t *testing.T) bool {
	const recheck = time.Second
	cg := cpuCgroup(t, 1)
	d := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=" + recheck.String()}},
		"--", "sleep", "1000")
	d.waitLog(`worker started worker=0 `, 1, 10*time.Second)
	reads := watchReads(t, cg.file("cpu.cfs_quota_us"), "")

	// Each reading sees the other value: the flip follows each read.
	const flips = 11
	cores := 2
	cg.setCores(cores)
	base := reads.count()
	for i := 1; i <= flips; i++ {
		reads.waitFor(base+i, recheck+5*time.Second)
		if i < flips {
			cores = 3 - cores
			cg.setCores(cores)
			if n := reads.count() - base; n != i {
				t.Logf("reading %d came before the quota flipped after reading %d: the machine is too loaded to react within %s", n, i, recheck)
				d.stop()
				return false
			}
		}
	}
	// The readings saw 2, 1, 2, …, 2.
	if n := d.count(anyResize); n != 1 {
		t.Errorf("%d resize lines over %d readings flipping between 2 and 1 CPUs, want 1 (the first growth)", n, flips)
	}
	if st := d.status(); st.Desired != 2 || st.CPU.Changes != 1 {
		t.Errorf("/status desired %d, cpu.changes %d after the flapping; want 2 and 1", st.Desired, st.CPU.Changes)
	}

	cg.setCores(1)
	base = reads.count()
	lowered := time.Now()
	shrink := resizeLine(2, 1, "2", 1, cg.source(1))
	d.waitLog(shrink, d.count(shrink)+1, 20*time.Second)
	if n, held := reads.count()-base, time.Since(lowered); n < 2 || held < shrinkDwell-150*time.Millisecond {
		t.Errorf("the pool shrank after %d readings of the steady lower quota in %s, want every reading over %s", n, held, shrinkDwell)
	}
	if n := d.count(`worker started`); n != 2 {
		t.Errorf("%d workers started, want 2: the flapping started or stopped workers", n)
	}
	d.stop()
	return true
}

// A manual TTIN/TTOU pins the count: readings that disagree leave it
// alone. SIGHUP hands control back and applies the budget at once, lower
// included, without waiting for a second reading.
func TestResizeSighupAndManualPin(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	cg := cpuCgroup(t, 2)
	d := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=1s"}},
		"--", "sleep", "1000")
	d.waitLog(`worker started worker=1 `, 1, 10*time.Second)
	reads := watchReads(t, cg.file("cpu.cfs_quota_us"), "")

	d.signal(syscall.SIGTTIN)
	d.waitLog(`adding a worker workers=3`, 1, 5*time.Second)
	cg.setCores(1)
	base := reads.count()
	reads.waitFor(base+3, 10*time.Second) // unpinned, the second would shrink the pool
	if st := d.status(); d.count(anyResize) != 0 || st.Desired != 3 {
		t.Errorf("after TTIN to 3 and three readings of 1 CPU, /status desired %d and %d resize lines; want 3 and none", st.Desired, d.count(anyResize))
	}

	// Right after a periodic reading, so that the next one is a recheck away.
	reads.waitFor(reads.count()+1, 5*time.Second)
	base = reads.count()
	d.signal(syscall.SIGHUP)
	d.waitLog(resizeLine(3, 1, "2", 1, cg.source(1)), 1, 5*time.Second)
	if n := reads.count() - base; n != 1 {
		t.Errorf("SIGHUP shrank the pool after %d readings, want at once (its own one)", n)
	}

	cg.setCores(2) // the pin is gone: the next reading grows the pool
	d.waitLog(resizeLine(1, 2, "1", 2, cg.source(2)), 1, 5*time.Second)

	d.signal(syscall.SIGTTOU)
	d.waitLog(`removing a worker workers=1`, 1, 5*time.Second)
	base = reads.count()
	reads.waitFor(base+3, 10*time.Second) // unpinned, the first would grow the pool
	if st := d.status(); d.count(anyResize) != 2 || st.Desired != 1 {
		t.Errorf("after TTOU to 1 and three readings of 2 CPUs, /status desired %d and %d resize lines; want 1 and 2", st.Desired, d.count(anyResize))
	}
	d.stop()
}

// DROVER_CPU_RECHECK=0 turns following off: a drover beside it in the same
// cgroup, rechecking every second, grows and reads the raised quota twice
// more, and the one with 0 still has 1 worker.
func TestResizeRecheckZeroIsOff(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	cg := cpuCgroup(t, 1)
	off := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=0"}},
		"--", "sleep", "1000")
	on := start(t, opts{shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=1s"}}, "--", "sleep", "1000")
	off.waitLog(`worker started worker=0 `, 1, 10*time.Second)
	on.waitLog(`worker started worker=0 `, 1, 10*time.Second)
	reads := watchReads(t, cg.file("cpu.cfs_quota_us"), "")

	cg.setCores(2)
	on.waitLog(resizeLine(1, 2, "1", 2, cg.source(2)), 1, 5*time.Second)
	reads.waitFor(reads.count()+2, 5*time.Second)
	if st := off.status(); off.count(anyResize) != 0 || off.count(`worker started`) != 1 || st.Desired != 1 || st.CPU.Changes != 0 {
		t.Errorf("with DROVER_CPU_RECHECK=0: /status desired %d, cpu.changes %d, %d resize lines; want 1 worker and no change",
			st.Desired, st.CPU.Changes, off.count(anyResize))
	}
	off.stop()
	on.stop()
}

// With DROVER_REUSEPORT every slot has its own socket: a shrink stops the
// removed slot's worker with its stop signal (it exits by itself, not by
// SIGKILL) and then closes that slot's socket, so no connection queues
// where nobody accepts; the other slot keeps its socket and its worker.
func TestResizeShrinkReleasesReuseportSlot(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	cg := cpuCgroup(t, 2)
	d := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=300ms",
		"DROVER_LISTEN=127.0.0.1:0", "DROVER_REUSEPORT=true"}}, workerArgs(t, "hz-worker")...)
	var app string
	for _, a := range boundAddrs(t, d) {
		app = "http://" + strings.TrimPrefix(a, "tcp://") + "/"
	}
	slot := map[string]int{}
	for pid, kv := range d.infos(2) {
		slot[kv["worker"]] = pid
	}
	sock := map[string]string{}
	for id, pid := range slot {
		s, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", pid))
		if err != nil || !sockInodes(d.pid)[s] {
			t.Fatalf("worker %s (pid %d) fd 3 is %q (%v), not a socket drover holds", id, pid, s, err)
		}
		sock[id] = s
	}
	if len(sock) != 2 || sock["0"] == sock["1"] {
		t.Fatalf("sockets per slot %v, want two different ones", sock)
	}

	cg.setCores(1)
	d.waitLog(resizeLine(2, 1, "2", 1, cg.source(1)), 1, 20*time.Second)
	waitFile(t, filepath.Join(d.dir, "term."+strconv.Itoa(slot["1"])), `^\d+$`, 5*time.Second)
	d.waitLog(fmt.Sprintf(`worker stopped worker=1 pid=%d status="exit 0"`, slot["1"]), 1, 10*time.Second)
	eventually(t, 5*time.Second, "drover to close removed slot 1's socket "+sock["1"]+" after its worker stopped",
		func() (map[string]bool, bool) { s := sockInodes(d.pid); return s, !s[sock["1"]] })
	if !sockInodes(d.pid)[sock["0"]] {
		t.Errorf("slot 0's socket %s was closed too", sock["0"])
	}
	// A request queued on a leftover socket would wait for its timeout.
	want := fmt.Sprintf("worker 0 pid %d\n", slot["0"])
	for i := 0; i < 20; i++ {
		code, body, err := tryGet(app)
		if err != nil || code != 200 || body != want {
			t.Fatalf("request %d after the shrink: %d %q %v; want %q", i, code, body, err, want)
		}
	}
	if n := d.count(`killing it`); n != 0 {
		t.Errorf("%d workers were killed; the removed one should have stopped on its stop signal", n)
	}
	d.stop()
}

// The case at the shortest recheck drover accepts: a quota that
// flips between 1 and 2 CPUs every 5 ms, read every 250 ms for longer
// than a dwell. Before the floor and the dwell, 1 ms rechecks made 1,246
// budget changes and 625 worker starts in 10 s. Now: one change, the first
// growth, and no more than one per dwell; once the quota settles at 1 CPU
// the pool shrinks a dwell later. drover's CPU time over the flapping is
// logged.
func TestResizeQuotaFlappingAtTheFloor(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	cg := cpuCgroup(t, 1)
	d := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=250ms"}},
		"--", "sleep", "1000")
	d.waitLog(`worker started worker=0 `, 1, 10*time.Second)
	reads := watchReads(t, cg.file("cpu.cfs_quota_us"), "")
	cpu0 := cpuTicks(t, d.pid)

	const flapFor = shrinkDwell + 2*time.Second
	stop := make(chan struct{})
	flipped := make(chan int)
	go func() {
		n, cores := 0, 1
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				// Ends at 2 CPUs, so the lower budget holds only from
				// the test's cg.set(1) on.
				if os.WriteFile(cg.file("cpu.cfs_quota_us"), []byte("200000"), 0o644) != nil {
					n = -1
				}
				flipped <- n
				return
			case <-tick.C:
				cores = 3 - cores
				if err := os.WriteFile(cg.file("cpu.cfs_quota_us"), []byte(strconv.Itoa(cores*100000)), 0o644); err != nil {
					flipped <- -1
					return
				}
				n++
			}
		}
	}()
	time.Sleep(flapFor) // the test is the passing of time: the quota flips meanwhile, on the test's own clock
	close(stop)
	n := <-flipped
	if n < 0 {
		t.Fatal("cannot rewrite the quota")
	}
	ticks := cpuTicks(t, d.pid) - cpu0
	readings := reads.count()
	changes := d.count(anyResize)
	t.Logf("%s of a quota flipping every 5 ms (%d flips): %d readings, %d budget changes, %d worker starts, drover used %d ms of CPU",
		flapFor, n, readings, changes, d.count(`worker started`), ticks*10)
	// 48 at 250 ms; on a loaded machine half of that has been seen. Far
	// more than one per dwell is what makes the test mean something.
	if readings < int(flapFor/time.Second) {
		t.Errorf("%d readings in %s: the recheck did not run at 250 ms", readings, flapFor)
	}
	if changes != 1 || d.count(resizeLine(1, 2, "1", 2, cg.source(2))) != 1 {
		t.Errorf("%d budget changes while the quota flapped for %s, want 1 (the first growth)", changes, flapFor)
	}
	if n := d.count(`worker started`); n != 2 {
		t.Errorf("%d workers started, want 2", n)
	}

	// A reading of the final 2 CPUs ends any run of lower readings the
	// flapping left; the dwell then starts with the first reading of 1.
	reads.waitFor(reads.count()+2, 5*time.Second)
	cg.setCores(1)
	settled := time.Now()
	d.waitLog(resizeLine(2, 1, "2", 1, cg.source(1)), 1, shrinkDwell+10*time.Second)
	if held := time.Since(settled); held < shrinkDwell-125*time.Millisecond {
		t.Errorf("the pool shrank %s after the quota settled, want a dwell (%s)", held, shrinkDwell)
	}
	d.stop()
}
