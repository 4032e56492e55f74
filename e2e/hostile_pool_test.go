package e2e

// Issue 10, items 4, 8 and 9, and a kill loop: a pool under attack keeps
// its workers, its counters and its exit status honest.

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// 400 idle connections to the health port with drover's descriptors
// limited to 256: killed workers are all restarted, no start fails for
// want of descriptors, and /livez answers once the flood ends.
func TestHostileHealthFloodWhileKilling(t *testing.T) {
	const workers, rounds, conns = 2, 3, 400
	d := start(t, opts{health: true, shell: "ulimit -n 256",
		env: []string{"DROVER_WORKERS=" + strconv.Itoa(workers), "DROVER_CRASH_LIMIT=0", "DROVER_BACKOFF_MAX=100ms"}},
		"sleep", "1000")
	d.waitLog(fmt.Sprintf(`worker started worker=%d `, workers-1), 1, 10*time.Second)

	var mu sync.Mutex
	var open []net.Conn
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", d.addr, 3*time.Second)
			if err == nil {
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	if len(open) < 300 {
		t.Fatalf("only %d of %d flood connections were established", len(open), conns)
	}
	peak := openFDs(d.pid)
	for r := 0; r < rounds; r++ {
		for id := 0; id < workers; id++ {
			d.killAndReplace(id)
			peak = max(peak, openFDs(d.pid))
		}
	}
	t.Logf("%d idle connections held open; drover's descriptors peaked at %d of 256", len(open), peak)
	for _, bad := range []string{`too many open files`, `cannot start`, `lack of resources`, `giving up`} {
		if n := d.count(bad); n > 0 {
			t.Errorf("%d log lines match %q", n, bad)
		}
	}
	if got := d.count(`worker started`); got != workers*(rounds+1) {
		t.Errorf("%d workers started, want %d", got, workers*(rounds+1))
	}
	for _, c := range open {
		c.Close()
	}
	open = nil
	// The health server frees its slots as the closed connections are
	// read; ask /livez until it answers.
	eventually(t, 10*time.Second, "/livez to answer 200 after the flood", func() (string, bool) {
		code, _, err := tryGet("http://" + d.addr + "/livez")
		return fmt.Sprintf("%d %v", code, err), err == nil && code == 200
	})
	if st := d.status(); st.Desired != workers || len(st.Workers) != workers {
		t.Errorf("/status after the flood: desired %d, %d workers; want %d", st.Desired, len(st.Workers), workers)
	}
	d.stop()
	d.noCrash()
}

// DROVER_RESTART=never: the pool exits with the first failure's status,
// whichever order the workers finish in; 0 only if every worker exited 0.
func TestHostileRestartNeverFirstFailure(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         int
		first        string // the slot and status the log must show first
	}{
		{"fails first", `[ "$DROVER_WORKER_ID" = 1 ] && exit 3; sleep 0.5; exit 0`, 3, `worker=1 .*exit 3`},
		{"fails last", `[ "$DROVER_WORKER_ID" = 1 ] && { sleep 0.5; exit 3; }; exit 0`, 3, `worker=[02] .*exit 0`},
		{"two failures", `case $DROVER_WORKER_ID in 1) exit 3;; 2) sleep 0.5; exit 5;; esac; sleep 0.5; exit 0`, 3, `worker=1 .*exit 3`},
		{"all succeed", `[ "$DROVER_WORKER_ID" = 1 ] && sleep 0.3; exit 0`, 0, `exit 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := start(t, opts{env: []string{"DROVER_RESTART=never", "DROVER_WORKERS=3"}}, "sh", "-c", tc.script)
			if code := d.wait(15 * time.Second); code != tc.want {
				t.Errorf("drover exited %d, want %d", code, tc.want)
			}
			d.settleLog()
			if n := d.count(`worker exited`); n != 3 {
				t.Errorf("%d workers exited, want 3", n)
			}
			if d.count(`worker started`) != 3 {
				t.Errorf("a worker was restarted under DROVER_RESTART=never")
			}
			for _, l := range d.lines() {
				if strings.Contains(l, "worker exited") {
					if !matches(tc.first, l) {
						t.Errorf("the workers did not finish in the order this case is about: first exit %q", l)
					}
					break
				}
			}
		})
	}
}

// drover_worker_cpu_seconds_total{worker="0"} never goes down when the
// slot's worker is replaced: the first worker burns CPU, its replacement
// does not, so a counter that restarted from the new worker would fall.
func TestHostileCPUCounterMonotonic(t *testing.T) {
	dir := t.TempDir()
	script := fmt.Sprintf(`if [ ! -e %[1]s/burned ]; then i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo done > %[1]s/burned; fi; exec sleep 1000`, dir)
	d := start(t, opts{health: true, env: []string{"DROVER_WORKERS=1", "DROVER_CRASH_LIMIT=0"}}, "sh", "-c", script)
	waitFile(t, filepath.Join(dir, "burned"), "done", 30*time.Second)
	sample := func() float64 {
		return metricValue(t, d.metrics(), "drover_worker_cpu_seconds_total", "worker", "0")
	}
	// What the first worker burned, read from /proc now that it only
	// sleeps; drover samples usage, so poll /metrics until it shows it.
	pid, _ := strconv.Atoi(d.waitLog(`worker started worker=0 pid=(\d+)`, 1, 5*time.Second)[1])
	burned := float64(cpuTicks(t, pid)) / 100
	if burned < 0.05 {
		t.Fatalf("the first worker burned only %v s of CPU", burned)
	}
	before := eventually(t, 10*time.Second, fmt.Sprintf("the slot's counter to show the %v s the worker burned", burned), func() (float64, bool) {
		v := sample()
		return v, v >= burned-0.02
	})
	d.killAndReplace(0)
	last := before
	throughout(t, 500*time.Millisecond, "the slot's CPU counters never going down after the worker was replaced", func() (string, bool) {
		v, st := sample(), d.status()
		seen := fmt.Sprintf("drover_worker_cpu_seconds_total{worker=\"0\"} %v after %v, /status %+v", v, last, st.Workers)
		ok := v >= last && (len(st.Workers) != 1 || st.Workers[0].CPUSecondsTotal >= before)
		last = v
		return seen, ok
	})
	t.Logf("slot 0 CPU: %v s before the kill, %v s after", before, last)
	d.stop()
}

// Twenty kill -9s of one worker in a row: drover stays up and consistent,
// stops cleanly, and a second drover on the same addresses runs and stops
// cleanly too (nothing of the first is left holding them).
func TestHostileKillLoop(t *testing.T) {
	const kills = 20
	health, listen := freeAddr(t), freeAddr(t)
	env := []string{"DROVER_WORKERS=2", "DROVER_CRASH_LIMIT=0", "DROVER_BACKOFF_MAX=100ms",
		"DROVER_HEALTH_ADDR=" + health, "DROVER_LISTEN=" + listen}
	d := start(t, opts{env: env}, "sleep", "1000")
	d.waitLog(`worker started worker=1 `, 1, 10*time.Second)
	d.addr = health
	var killed []int
	for i := 0; i < kills; i++ {
		killed = append(killed, d.workerPids()[0][i])
		d.killAndReplace(0)
	}
	st := d.status()
	if st.Desired != 2 || len(st.Workers) != 2 {
		t.Errorf("/status after %d kills: desired %d, %d workers; want 2 and 2", kills, st.Desired, len(st.Workers))
	}
	for _, w := range st.Workers {
		if w.Pid <= 0 || (w.ID == 0 && w.Restarts != kills) {
			t.Errorf("/status worker %+v; want a live pid and %d restarts in slot 0", w, kills)
		}
	}
	d.stop()
	d.noCrash()
	for _, pid := range killed {
		if syscall.Kill(pid, 0) == nil && parentOf(strconv.Itoa(pid)) == d.pid {
			t.Errorf("killed worker %d is still there", pid)
		}
	}
	again := start(t, opts{env: env}, "sleep", "1000")
	again.waitLog(`worker started worker=1 `, 1, 10*time.Second)
	again.stop()
}

// matches reports whether s matches the regular expression re.
func matches(re, s string) bool {
	return regexp.MustCompile(re).MatchString(s)
}

// SIGTTIN respects DROVER_WORKERS_MAX with auto sizing.
func TestHostileTTINRespectsWorkersMax(t *testing.T) {
	d := start(t, opts{health: true, env: []string{"DROVER_WORKERS=auto", "DROVER_CPU_MILLICORES=1000", "DROVER_WORKERS_MAX=2"}},
		"sleep", "1000")
	d.waitLog(`worker started worker=0 `, 1, 10*time.Second)
	d.signal(syscall.SIGTTIN)
	d.waitLog(`worker started worker=1 `, 1, 10*time.Second)
	d.signal(syscall.SIGTTIN)
	d.waitLog(`not adding a worker: the pool is at its maximum .*max=2`, 1, 5*time.Second)
	if st := d.status(); st.Desired != 2 {
		t.Errorf("desired %d after TTIN beyond DROVER_WORKERS_MAX=2", st.Desired)
	}
	d.stop()
	if n := d.count(`worker started`); n != 2 {
		t.Errorf("%d workers started, want 2", n)
	}
}

// SIGTERM in the middle of starting a large pool is answered at once, and
// every worker started so far is stopped and reaped.
func TestHostileTermWhileStartingManyWorkers(t *testing.T) {
	const n = 400
	d := start(t, opts{pidns: true, env: []string{"DROVER_WORKERS=" + strconv.Itoa(n)}}, "sleep", "1000")
	d.waitLog(`worker started worker=50 `, 1, 20*time.Second)
	began := time.Now()
	d.stop()
	took := time.Since(began)
	started, stopped := d.count(`worker started`), d.count(`worker (stopped|exited)`)
	t.Logf("SIGTERM after %d of %d workers had started: drover exited in %s", started, n, took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("drover took %s to stop %d workers", took, started)
	}
	if stopped != started {
		t.Errorf("%d workers started, %d reported stopped", started, stopped)
	}
	d.noCrash()
}
