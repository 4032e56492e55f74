package e2e

// Issue 17, case 3: the OOM killer must take a worker before drover.
// Workers start with a higher oom_score_adj than drover's
// (DROVER_WORKER_OOM_SCORE_ADJ), and so does everything they fork.

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oomScoreOf reads a process's oom_score_adj.
func oomScoreOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Without CAP_SYS_RESOURCE (dropped from the bounding set, as Docker does)
// drover keeps its own score and workers start 500 above it, on every
// path a worker starts by (direct, the shell, drover's shim), with the
// child each forks at once; from 1000 nothing is higher (one log line
// says so); an explicit score is used as given; off leaves every score
// alone; a score below drover's is refused at start.
func TestOOMScoresOfWorkers(t *testing.T) {
	require(t, "root")
	noCap := []string{program(t, "setpriv"), "--bounding-set", "-sys_resource", "--"}
	worker := []string{"sh", "-c", "sleep 1000 & wait"}
	base := oomScoreOf(t, os.Getpid()) // what drover inherits unless a case sets it
	if base > 500 {
		t.Fatalf("the suite runs with oom_score_adj %d; these cases need room above it", base)
	}
	for _, c := range []struct {
		name          string
		env           []string
		shell         string
		drover, works int
		log           string
	}{
		{"direct", []string{"DROVER_WORKERS=2"}, "", base, base + 500, ""},
		{"shell shim", []string{"DROVER_LISTEN=127.0.0.1:0", "DROVER_WORKERS=2"}, "", base, base + 500, ""},
		{"drover's shim", []string{"DROVER_LISTEN=127.0.0.1:0", "DROVER_WORKERS=2", "a.b=1"}, "", base, base + 500, ""},
		{"plain init", nil, "", base, base + 500, ""},
		{"from 300", []string{"DROVER_WORKERS=2"}, "echo 300 > /proc/self/oom_score_adj", 300, 800, ""},
		{"from 1000", []string{"DROVER_WORKERS=2"}, "echo 1000 > /proc/self/oom_score_adj", 1000, 1000,
			"drover's oom_score_adj is already 1000 and lowering it needs CAP_SYS_RESOURCE"},
		{"explicit", []string{"DROVER_WORKERS=2", "DROVER_WORKER_OOM_SCORE_ADJ=700"}, "", base, 700, ""},
		{"off", []string{"DROVER_WORKERS=2", "DROVER_WORKER_OOM_SCORE_ADJ=off"}, "echo 20 > /proc/self/oom_score_adj", 20, 20, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := start(t, opts{pidns: true, wrap: noCap, shell: c.shell, env: c.env}, worker...)
			n := 2
			if c.env == nil {
				n = 1 // plain init logs nothing: its child is found in /proc
			} else {
				d.waitLog(`worker started worker=1 `, 1, 10*time.Second)
			}
			if got := oomScoreOf(t, d.pid); got != c.drover {
				t.Errorf("drover's oom_score_adj %d, want %d", got, c.drover)
			}
			var workers []int
			if c.env == nil {
				workers = []int{firstChildOf(t, d.pid)}
			} else {
				for _, pids := range d.workerPids() {
					workers = append(workers, d.hostPid(pids[0]))
				}
			}
			if len(workers) != n {
				t.Fatalf("workers %v, want %d", workers, n)
			}
			for _, w := range workers {
				// Its child exists once the program runs: a shim sets the
				// score just before the exec.
				child := firstChildOf(t, w)
				if got := oomScoreOf(t, w); got != c.works {
					t.Errorf("worker %d: oom_score_adj %d, want %d", w, got, c.works)
				}
				if got := oomScoreOf(t, child); got != c.works {
					t.Errorf("the child of worker %d: oom_score_adj %d, want %d", w, got, c.works)
				}
			}
			if c.log != "" && d.count(regexp.QuoteMeta(c.log)) != 1 {
				t.Errorf("no log line %q", c.log)
			}
			if c.env == nil {
				d.stopWith(syscall.SIGTERM, 128+int(syscall.SIGTERM))
			} else {
				d.stop()
			}
		})
	}
	out, err := command(t, opts{wrap: noCap, env: []string{"DROVER_WORKERS=1", fmt.Sprintf("DROVER_WORKER_OOM_SCORE_ADJ=%d", base-1)}}, "true").CombinedOutput()
	want := fmt.Sprintf(`drover: DROVER_WORKER_OOM_SCORE_ADJ="%d" is not valid; accepted: auto, off, or a whole number from -1000 to 1000 (below drover's own oom_score_adj %d: lowering a score needs CAP_SYS_RESOURCE, which drover does not have)`+"\n", base-1, base)
	if code := exitCode(err); code != 2 || string(out) != want {
		t.Errorf("a worker score below drover's without CAP_SYS_RESOURCE: exit %d %q, want 2 %q", code, out, want)
	}
}

// With CAP_SYS_RESOURCE drover lowers its own score by 500 and leaves the
// workers at the score it was given. Only where the test itself holds
// the capability (this CI machine's root does not).
func TestOOMScoreDroverLowersItself(t *testing.T) {
	require(t, "root")
	if !hasCap(t, os.Getpid(), capSysResource) {
		t.Log("root here lacks CAP_SYS_RESOURCE: drover cannot lower its own score, which TestOOMScoresOfWorkers covers; launch's unit tests cover the plan")
		return
	}
	d := start(t, opts{pidns: true, env: []string{"DROVER_WORKERS=1"}}, "sleep", "1000")
	m := d.waitLog(`worker started worker=0 pid=(\d+)`, 1, 10*time.Second)
	ns, _ := strconv.Atoi(m[1])
	if got := oomScoreOf(t, d.pid); got != -500 {
		t.Errorf("drover's oom_score_adj %d, want -500", got)
	}
	if got := oomScoreOf(t, d.hostPid(ns)); got != 0 {
		t.Errorf("worker's oom_score_adj %d, want 0", got)
	}
	d.stop()
}

// The case of the issue: in a 96 MiB memory cgroup a worker's 40 children
// grow until the kernel kills. Every kill is a worker's (drover used to be
// the biggest process at score 0 and went first), and drover is alive to
// stop the pool.
func TestOOMKillerTakesWorkersNotDrover(t *testing.T) {
	require(t, "root")
	cg := memCgroup(t, 96<<20)
	d := start(t, opts{pidns: true, shell: cg.join(), env: []string{
		"DROVER_WORKERS=1", "DROVER_CRASH_LIMIT=0",
	}}, "sh", "-c", `i=0; while [ $i -lt 40 ]; do tail /dev/zero & i=$((i+1)); done; wait`)
	eventually(t, 30*time.Second, "20 OOM kills in the memory cgroup", func() (int, bool) {
		select {
		case <-d.done:
			t.Fatalf("drover died (code %d) after %d OOM kills", d.code, cg.oomKills())
		default:
		}
		n := cg.oomKills()
		return n, n >= 20
	})
	if err := syscall.Kill(d.pid, 0); err != nil {
		t.Fatalf("drover is gone after %d OOM kills: %v", cg.oomKills(), err)
	}
	t.Logf("%d OOM kills, drover alive", cg.oomKills())
	d.signal(syscall.SIGTERM)
	if code := d.wait(20 * time.Second); code != 0 && code != 137 {
		t.Errorf("drover exited %d after SIGTERM", code)
	}
}
