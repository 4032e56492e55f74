package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// An in-place resize as the kubelet does it for a pod with requests only,
// on a real cgroup v1: DROVER_CPU_MILLICORES keeps the start value, the
// Downward API file changes at once, and cpu.shares only when the kubelet
// applies the resize. A change of the file that the shares do not show
// (Infeasible, or not applied yet) leaves the pool alone; once they show
// it, the file wins over the frozen variable and the pool grows.
func TestResizeFileCountsOnceGranted(t *testing.T) {
	t.Parallel()
	require(t, "two-cpus")
	cg := cpuCgroup(t, 1)
	cg.set("cpu.cfs_quota_us", "-1")
	cg.set("cpu.shares", "1024")
	dir := t.TempDir()
	file := filepath.Join(dir, "cpu_millicores")
	writeAtomically(t, file, "1000\n")
	d := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto",
		"DROVER_CPU_MILLICORES=1000", "DROVER_CPU_FILE=" + file, "DROVER_CPU_RECHECK=300ms"}}, "--", "sleep", "1000")
	d.waitLog(regexp.QuoteMeta("drover: 1 worker: cpu budget 1 (DROVER_CPU_FILE "+file+" = 1000m)"), 1, 10*time.Second)
	reads := watchReads(t, dir, "cpu_millicores")
	shares := func(n int) string { return fmt.Sprintf("cgroup v1 cpu.shares %d at %s", n, cg.dir) }
	fileSrc := func(m int) string { return fmt.Sprintf("DROVER_CPU_FILE %s = %dm", file, m) }
	unchanged := func(what string) {
		t.Helper()
		reads.waitFor(reads.count()+3, 10*time.Second)
		if n := d.count(anyResize); n != 0 {
			t.Fatalf("%s: %d resize lines, want none", what, n)
		}
	}

	// Requested, not granted: the file says 2000, the shares still 1024.
	writeAtomically(t, file, "2000\n")
	unchanged("file 2000m, cpu.shares 1024")
	if st := d.status(); st.Desired != 1 || st.CPU.Changes != 0 {
		t.Errorf("/status desired %d, cpu %+v while the resize is not applied; want 1 worker, no change", st.Desired, st.CPU)
	}

	// Applied: the kubelet writes the shares, the next reading grows the pool.
	granted := fileSrc(2000) + ", granted: " + shares(2048)
	cg.set("cpu.shares", "2048")
	d.waitLog(resizeLine(1, 2, "1", 2, granted), 1, 5*time.Second)
	checkBudget(t, d, 2, 1, 1, granted)

	// A second resize, to 3000m, Infeasible: the shares keep the pool at 2.
	writeAtomically(t, file, "3000\n")
	base := d.count(anyResize)
	reads.waitFor(reads.count()+3, 10*time.Second)
	if n := d.count(anyResize) - base; n != 0 {
		t.Errorf("file 3000m with cpu.shares 2048: %d resize lines, want none", n)
	}
	if st := d.status(); st.Desired != 2 || st.CPU.Cores != 2 {
		t.Errorf("/status desired %d, cpu %+v; want 2 workers from the granted 2 CPUs", st.Desired, st.CPU)
	}

	// Back to 1000m: the file may lower the budget before the shares do.
	writeAtomically(t, file, "1000\n")
	d.waitLog(resizeLine(2, 1, "2", 1, fileSrc(1000)), 1, shrinkDwell+5*time.Second) // a shrink waits a dwell
	cg.set("cpu.shares", "1024")
	d.stop()
}
