package e2e

// Issue 17, item 3: the kernel's OOM killer in a memory cgroup a worker
// fills. drover must stay alive, and a worker the OOM killer chose is named
// as such: a log line with the memory limit, its last exit in /status, and
// drover_worker_restarts_total{reason="oom"}.

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// oomWorkerMode runs the worker modes of this file:
//
//	oom-worker  raises its own oom_score_adj to 1000, then starts
//	            OOM_CHILDREN oom-child processes and waits
//	oom-child   lowers its oom_score_adj to 500 and allocates and touches
//	            OOM_MIB MiB, then waits
//
// drover gives a worker and everything it forks 500 above its own score
// (DROVER_WORKER_OOM_SCORE_ADJ); the worker raises itself above its
// children so that the OOM killer takes the worker itself, whose death
// drover must name, rather than one of its children.
func oomWorkerMode(mode string) (int, bool) {
	switch mode {
	case "oom-worker":
		return oomWorker(), true
	case "oom-child":
		return oomChild(), true
	}
	return 0, false
}

func setOOMScore(v int) error {
	return os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(v)), 0o644)
}

func oomWorker() int {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if err := setOOMScore(1000); err != nil {
		fmt.Fprintln(os.Stderr, "oom-worker:", err)
		return 3
	}
	n, _ := strconv.Atoi(os.Getenv("OOM_CHILDREN"))
	exe, _ := os.Executable()
	for range n {
		c := exec.Command(exe)
		c.Env = append(os.Environ(), workerEnv+"=oom-child", "OOM_PARENT="+strconv.Itoa(os.Getpid()))
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		if err := c.Start(); err != nil {
			break // the memory is gone: the OOM killer is on its way
		}
		go func() { _ = c.Wait() }()
	}
	select {
	case <-term:
		return 0
	case <-time.After(2 * time.Minute):
		return 4
	}
}

func oomChild() int {
	// Dies with the worker: the memory comes back for its successor.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	if strconv.Itoa(os.Getppid()) != os.Getenv("OOM_PARENT") {
		return 0 // the worker died before the line above: nothing to fill
	}
	_ = setOOMScore(500)
	mib, _ := strconv.Atoi(os.Getenv("OOM_MIB"))
	b := make([]byte, mib<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	time.Sleep(2 * time.Minute)
	return int(b[0]) - 1
}

// The case: a 96 MiB memory cgroup where a worker's children
// exhaust the memory. drover stays alive and answers; the worker the OOM
// killer took is named as such in the log, in /status and in /metrics;
// SIGTERM still ends everything cleanly.
func TestOOMKillOfWorkerIsNamed(t *testing.T) {
	t.Parallel()
	const limit = 96 << 20
	cg := memCgroup(t, limit)
	d := start(t, opts{health: true, shell: cg.join(), env: []string{"DROVER_WORKERS=1", "DROVER_CRASH_LIMIT=0", "DROVER_BACKOFF_MAX=1s"}},
		workerArgs(t, "oom-worker", "OOM_CHILDREN=40", "OOM_MIB=8")...)
	line := d.waitLog(`^drover: warning: worker 0 \(pid (\d+)\) was killed by the OOM killer \(memory limit 96Mi: cgroup v1 memory.limit_in_bytes 100663296 at `+
		regexp.QuoteMeta(cg.dir)+`\)$`, 1, 60*time.Second)
	t.Logf("%s", line[0])
	d.waitLog(`worker failed; restarting worker=0 pid=`+line[1]+` status="signal SIGKILL \(OOM killer\)"`, 1, 10*time.Second)

	if err := syscall.Kill(d.pid, 0); err != nil {
		t.Fatalf("drover is gone: %v", err)
	}
	st := d.status()
	if st.Restarts["oom"] < 1 {
		t.Errorf("/status restarts %v, want oom >= 1", st.Restarts)
	}
	oomExit := false
	for _, w := range st.Workers {
		oomExit = oomExit || w.LastExit == "signal SIGKILL (OOM killer)"
	}
	if !oomExit {
		t.Errorf("/status shows no last exit by the OOM killer: %+v", st.Workers)
	}
	if v := metricValue(t, d.metrics(), "drover_worker_restarts_total", "reason", "oom"); v < 1 {
		t.Errorf(`drover_worker_restarts_total{reason="oom"} = %v, want >= 1`, v)
	}
	oc, _ := os.ReadFile(cg.file("memory.oom_control"))
	t.Logf("%s: %s", cg.dir, strings.ReplaceAll(string(oc), "\n", "; "))
	d.stop()
	d.noCrash()
}
