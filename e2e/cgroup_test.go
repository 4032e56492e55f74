package e2e

// A cgroup v1 of the test's own: drover joins it through opts.shell, the
// test writes its limits while drover runs and reads what is left in it
// when drover has gone.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cgroup is a cgroup made for one test in the v1 hierarchy of one
// controller.
type cgroup struct {
	t   *testing.T
	dir string
}

// newCgroup makes a child of this process's cgroup in the v1 hierarchy
// of controller ("cpu", "pids"), named after the test, and removes it when
// the test ends. Call it before start: cleanups run last-in first-out, so
// drover and its workers have left the cgroup by then; a process the test
// left behind in it is killed (only this test's processes can be there).
func newCgroup(t *testing.T, controller string) *cgroup {
	t.Helper()
	require(t, "root", "cgroup-v1/"+controller)
	self, err := ownCgroup(controller)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("drover-e2e-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	c := &cgroup{t: t, dir: filepath.Join("/sys/fs/cgroup", controller, self, name)}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatalf("creating cgroup %s: %v", c.dir, err)
	}
	t.Cleanup(c.remove)
	return c
}

// ownCgroup is this process's cgroup path in the v1 hierarchy of
// controller, from /proc/self/cgroup.
func ownCgroup(controller string) (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), controller) {
			return parts[2], nil
		}
	}
	return "", fmt.Errorf("/proc/self/cgroup names no v1 %s cgroup", controller)
}

// remove kills what is left in the cgroup and removes it once the kernel
// has let the last process go; a process leaving a cgroup sends no event.
func (c *cgroup) remove() {
	eventually(c.t, 10*time.Second, "cgroup "+c.dir+" to be removable", func() ([]int, bool) {
		procs := c.procs()
		for _, pid := range procs {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return procs, syscall.Rmdir(c.dir) == nil
	})
}

// set writes a control file, e.g. set("pids.max", 300).
func (c *cgroup) set(file string, v any) {
	c.t.Helper()
	if err := os.WriteFile(c.file(file), []byte(fmt.Sprint(v)), 0o644); err != nil {
		c.t.Fatalf("setting %s to %v: %v", file, v, err)
	}
}

// get reads a control file as a number, e.g. get("pids.current").
func (c *cgroup) get(file string) int {
	c.t.Helper()
	b, err := os.ReadFile(c.file(file))
	if err != nil {
		c.t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.t.Fatalf("%s: %v", file, err)
	}
	return n
}

// file is the path of a control file.
func (c *cgroup) file(name string) string { return filepath.Join(c.dir, name) }

// join is the opts.shell line that moves the shell, and so drover, into c.
func (c *cgroup) join() string { return "echo $$ > " + c.file("cgroup.procs") }

// procs lists the processes in the cgroup.
func (c *cgroup) procs() []int {
	b, _ := os.ReadFile(c.file("cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// cpuCgroup is a cpu cgroup limited to cores CPUs.
func cpuCgroup(t *testing.T, cores int) *cgroup {
	t.Helper()
	c := newCgroup(t, "cpu")
	c.set("cpu.cfs_period_us", 100000)
	c.setCores(cores)
	return c
}

// setCores rewrites a cpu cgroup's quota to cores CPUs, as the kubelet
// does on a resize.
func (c *cgroup) setCores(cores int) {
	c.t.Helper()
	c.set("cpu.cfs_quota_us", cores*100000)
}

// source is how drover names a quota of cores CPUs read from the cgroup.
func (c *cgroup) source(cores int) string {
	return fmt.Sprintf("cgroup v1 quota %d/100000 at %s", cores*100000, c.dir)
}

// pidsCgroup is a pids cgroup whose pids.max is max; below pids.current,
// pids.max makes every fork fail with EAGAIN.
func pidsCgroup(t *testing.T, max int) *cgroup {
	t.Helper()
	c := newCgroup(t, "pids")
	c.set("pids.max", max)
	return c
}

// memCgroup is a memory cgroup limited to limit bytes, swap included, so
// that its processes meet the OOM killer instead of swapping.
func memCgroup(t *testing.T, limit int64) *cgroup {
	t.Helper()
	c := newCgroup(t, "memory")
	c.set("memory.limit_in_bytes", limit)
	if _, err := os.Stat(c.file("memory.memsw.limit_in_bytes")); err == nil {
		c.set("memory.memsw.limit_in_bytes", limit)
	}
	return c
}

// oomKills is how many processes the OOM killer has killed in a memory
// cgroup (memory.oom_control's oom_kill).
func (c *cgroup) oomKills() int {
	c.t.Helper()
	b, err := os.ReadFile(c.file("memory.oom_control"))
	if err != nil {
		c.t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^oom_kill (\d+)$`).FindSubmatch(b)
	if m == nil {
		c.t.Fatalf("no oom_kill in %s: %q", c.file("memory.oom_control"), b)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

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
	if workers > 1 {
		require(t, "two-cpus") // drover caps the budget at the CPUs it may use
	}
	cg := newCgroup(t, "cpu")
	cg.set("cpu.cfs_period_us", 100000)
	cg.set("cpu.cfs_quota_us", quota)
	p := start(t, opts{health: true, shell: cg.join(), env: []string{"DROVER_WORKERS=auto"}}, "--", "sleep", "1000")
	p.waitLog(fmt.Sprintf(`worker started worker=%d `, workers-1), 1, 10*time.Second)
	want := fmt.Sprintf("%d workers: cpu budget %s (cgroup v1 quota %d/100000 at %s), rounding ceil", workers, cores, quota, cg.dir)
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
