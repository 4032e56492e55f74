package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// drover started inside a real cgroup v1 limited to 1.5 CPUs sizes its pool
// at 2 workers (ceil), says why in one log line, and shows the budget in
// /status.
func TestAutoWorkersFromRealCgroupV1(t *testing.T) {
	for _, tc := range []struct {
		quota, workers int
		cores, exact   string
	}{
		{150000, 2, "1.5", "3/2"},
		{50000, 1, "0.5", "1/2"}, // below the 2 CPUs of a CI machine: only the cgroup can explain it
	} {
		t.Run(tc.exact, func(t *testing.T) { testAutoWorkers(t, tc.quota, tc.workers, tc.cores, tc.exact) })
	}
}

func testAutoWorkers(t *testing.T, quota, workers int, cores, exact string) {
	needRoot(t)
	cg := makeCPUCgroup(t, quota, 100000)
	p := start(t, opts{
		health: true,
		shell:  "echo $$ > " + filepath.Join(cg, "cgroup.procs"),
		env:    []string{"DROVER_WORKERS=auto"},
	}, "--", "sleep", "1000")
	p.waitLog(fmt.Sprintf(`worker started worker=%d `, workers-1), 1, 10*time.Second)
	want := fmt.Sprintf("%d workers: cpu budget %s (cgroup v1 quota %d/100000 at %s), rounding ceil", workers, cores, quota, cg)
	if workers == 1 {
		want = strings.Replace(want, "1 workers", "1 worker", 1)
	}
	if p.count(regexp.QuoteMeta("drover: "+want)) != 1 {
		t.Errorf("no log line %q", want)
	}
	if st := p.status(); st.Desired != workers || st.CPU.Exact != exact {
		t.Errorf("/status says desired %v, cpu %+v; want %d workers from %s", st.Desired, st.CPU, workers, exact)
	}
	p.stop()
	if n := p.count(`worker started`); n != workers {
		t.Errorf("%d workers started, want exactly %d", n, workers)
	}
}

// makeCPUCgroup creates a child of this process's cpu cgroup with the given
// CFS quota and removes it when the test ends.
func makeCPUCgroup(t *testing.T, quota, period int) string {
	t.Helper()
	base := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(base, "cpu.cfs_quota_us")); err != nil {
		t.Skip("no cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu")
	}
	self := ""
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Skip("no /proc/self/cgroup")
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && contains(strings.Split(parts[1], ","), "cpu") {
			self = parts[2]
		}
	}
	f.Close()
	dir := filepath.Join(base, self, fmt.Sprintf("drover-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cgroup v1 cpu hierarchy not writable here: %v", err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Rmdir(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // the last processes are still leaving
		}
	})
	for file, v := range map[string]int{"cpu.cfs_period_us": period, "cpu.cfs_quota_us": quota} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(fmt.Sprint(v)), 0o644); err != nil {
			t.Fatalf("setting %s: %v", file, err)
		}
	}
	return dir
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
