package cpus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// v1Parent returns the directory of our own cgroup in the v1 hierarchy
// mounted at mnt, after checking that a test may create cgroups there;
// otherwise it skips.
func v1Parent(t *testing.T, mnt, probe string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating a cgroup needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		t.Skipf("skipping: %s is not a cgroup v1 hierarchy (statfs: %v)", mnt, err)
	}
	if err := unix.Access(mnt, unix.W_OK); err != nil {
		t.Skipf("skipping: %s is not writable: %v", mnt, err)
	}
	controller := filepath.Base(mnt)
	w := &warner{}
	for _, h := range (Reader{}).layout(w).hierarchies(controller, w) {
		if !h.v2 && h.levels[len(h.levels)-1] == mnt {
			if _, err := os.Stat(filepath.Join(h.levels[0], probe)); err != nil && h.levels[0] != mnt {
				t.Skipf("skipping: %s has no %s: %v", h.levels[0], probe, err)
			}
			return h.levels[0]
		}
	}
	t.Skipf("skipping: our cgroup is not visible under %s", mnt)
	return ""
}

// mkCgroup creates parent/name with files written in order, removed at the
// end of the test (after every helper registered later is gone).
func mkCgroup(t *testing.T, parent, name string, files ...[2]string) string {
	t.Helper()
	dir := filepath.Join(parent, fmt.Sprintf("drover-cpus-%s-%d", name, os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
			t.Skipf("skipping: cannot create a cgroup: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	for _, f := range files {
		writeCgroup(t, dir, f[0], f[1])
	}
	return dir
}

func writeCgroup(t *testing.T, dir, file, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		t.Fatalf("writing %s to %s/%s: %v", value, dir, file, err)
	}
}

// helper is a running budgetHelper.
type helper struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

func startHelper(t *testing.T) *helper {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.WaitDelay = 5 * time.Second
	h := &helper{t: t, cmd: cmd, lines: make(chan string, 16), stderr: &bytes.Buffer{}}
	cmd.Stderr = h.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
	}()
	// Registered after the cgroups, so it runs first: a cgroup can only be
	// removed once the helper is gone.
	t.Cleanup(func() {
		h.stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
	})
	return h
}

func (h *helper) moveTo(dir string) {
	h.t.Helper()
	writeCgroup(h.t, dir, "cgroup.procs", fmt.Sprint(h.cmd.Process.Pid))
}

func (h *helper) ask(cmd string) string {
	h.t.Helper()
	if _, err := fmt.Fprintln(h.stdin, cmd); err != nil {
		h.t.Fatalf("helper: %v; stderr:\n%s", err, h.stderr)
	}
	select {
	case line, ok := <-h.lines:
		if !ok {
			h.t.Fatalf("helper exited; stderr:\n%s", h.stderr)
		}
		return line
	case <-time.After(30 * time.Second):
		h.t.Fatalf("helper did not answer %q", cmd)
	}
	return ""
}

// TestRealCgroupV1Quota proves the whole chain on a real kernel: a process
// in a v1 cgroup with cfs quota 150000/100000 computes exactly 3/2 CPUs.
func TestRealCgroupV1Quota(t *testing.T) {
	const mnt = "/sys/fs/cgroup/cpu"
	parent := v1Parent(t, mnt, "cpu.cfs_quota_us")
	before, err := Reader{}.Budget(0)
	if err != nil {
		t.Fatal(err)
	}
	if before.Cores.Cmp(big.NewRat(3, 2)) < 0 {
		t.Skipf("skipping: this process is already limited to %s, a quota of 1.5 would not show", before)
	}
	dir := mkCgroup(t, parent, "quota", [2]string{"cpu.cfs_period_us", "100000"}, [2]string{"cpu.cfs_quota_us", "150000"})
	h := startHelper(t)
	h.moveTo(dir)
	got := h.ask("budget")
	if want := "cores=3/2 source=cgroup v1 quota 150000/100000 at " + dir; got != want {
		t.Errorf("helper: %q\nwant    %q", got, want)
	}
}

// TestRealCgroupV1Resize follows a running process through quota changes
// and a move to another cgroup, as an in-place pod resize does, and feeds
// the readings to a Follower: 1 CPU, raised to 2 (grows at once), lowered
// to 1 (shrinks on the second reading), moved to a 0.5 CPU sibling.
func TestRealCgroupV1Resize(t *testing.T) {
	const mnt = "/sys/fs/cgroup/cpu"
	parent := v1Parent(t, mnt, "cpu.cfs_quota_us")
	before, err := Reader{}.Budget(0)
	if err != nil {
		t.Fatal(err)
	}
	if before.Cores.Cmp(big.NewRat(2, 1)) < 0 {
		t.Skipf("skipping: this process is limited to %s, a quota of 2 would not show", before)
	}
	period := [2]string{"cpu.cfs_period_us", "100000"}
	dir := mkCgroup(t, parent, "resize", period, [2]string{"cpu.cfs_quota_us", "100000"})
	half := mkCgroup(t, parent, "half", period, [2]string{"cpu.cfs_quota_us", "50000"})
	h := startHelper(t)
	h.moveTo(dir)

	var f *Follower
	at := time.Unix(1e9, 0)
	for i, s := range []struct {
		quota, move string
		cores       string
		workers     int
	}{
		{"", "", "1", 1},
		{"200000", "", "2", 2},
		{"100000", "", "1", 2},
		{"", "", "1", 1},
		{"", half, "1/2", 1},
	} {
		if s.quota != "" {
			writeCgroup(t, dir, "cpu.cfs_quota_us", s.quota)
		}
		src := dir
		if s.move != "" {
			h.moveTo(s.move)
			src = s.move
		}
		got := h.ask("budget")
		want := "cores=" + s.cores + " source=cgroup v1 quota "
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, " at "+src) {
			t.Fatalf("reading %d: %q, want %q... at %s", i, got, want, src)
		}
		cores, _ := new(big.Rat).SetString(s.cores)
		b := Budget{Cores: cores, Source: strings.SplitN(got, "source=", 2)[1]}
		d := Size(b, Sizing{}, 0, false)
		if f == nil {
			f = NewFollower(d.Workers, b, MinShrinkDwell)
			continue
		}
		at = at.Add(MinShrinkDwell) // the readings stand for the default recheck
		n, changed, why := f.Observe(at, b, d)
		if n != s.workers {
			t.Errorf("reading %d: %d workers, want %d", i, n, s.workers)
		}
		if changed {
			t.Logf("drover: %s", why)
		}
	}
}

// TestRealPidsLimit: in a v1 pids cgroup with pids.max 300, the worker
// limit is what is left after the pids in use and the reserve, two a worker.
func TestRealPidsLimit(t *testing.T) {
	const mnt = "/sys/fs/cgroup/pids"
	parent := v1Parent(t, mnt, "pids.max")
	dir := mkCgroup(t, parent, "pids", [2]string{"pids.max", "300"})
	h := startHelper(t)
	h.moveTo(dir)
	got := h.ask("limit")
	t.Logf("helper in %s: %s", dir, got)
	var n, inUse int
	var rest string
	if _, err := fmt.Sscanf(got, "limit=%d reason=pids.max 300 (%d in use) at %s", &n, &inUse, &rest); err != nil {
		t.Fatalf("helper: %q: %v", got, err)
	}
	if rest != dir {
		t.Errorf("limit read at %s, want %s", rest, dir)
	}
	// The helper is a Go program: a handful of threads, each a pid.
	if inUse < 1 || inUse > 64 || n != (300-inUse-pidsReserve)/pidsPerWorker {
		t.Errorf("limit %d with %d pids in use, want (300-%d-%d)/%d", n, inUse, inUse, pidsReserve, pidsPerWorker)
	}
	writeCgroup(t, dir, "pids.max", "max")
	if got := h.ask("limit"); strings.Contains(got, dir) {
		t.Errorf("after pids.max=max: %q still names %s", got, dir)
	}
}

// removeCgroup retries briefly: the kernel may still count an exiting
// process as a member for a moment after it was reaped.
func removeCgroup(t *testing.T, dir string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			t.Errorf("removing test cgroup %s: %v", dir, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
