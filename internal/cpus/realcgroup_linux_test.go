package cpus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRealCgroupV1Quota proves the whole chain on a real kernel: a process
// in a v1 cgroup with cfs quota 150000/100000 computes exactly 3/2 CPUs.
func TestRealCgroupV1Quota(t *testing.T) {
	const mnt = "/sys/fs/cgroup/cpu"
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating a cgroup needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		t.Skipf("skipping: %s is not a cgroup v1 hierarchy (statfs: %v)", mnt, err)
	}
	if _, err := os.Stat(mnt + "/cpu.cfs_quota_us"); err != nil {
		t.Skipf("skipping: %s has no cpu controller: %v", mnt, err)
	}
	if err := unix.Access(mnt, unix.W_OK); err != nil {
		t.Skipf("skipping: %s is not writable: %v", mnt, err)
	}

	// Create the test cgroup below our own, so that the helper sees exactly
	// our ancestors plus the new quota.
	w := &warner{}
	parent := ""
	for _, h := range (Reader{}).layout(w).hierarchies("cpu", w) {
		if !h.v2 && h.levels[len(h.levels)-1] == mnt {
			parent = h.levels[0]
		}
	}
	if parent == "" {
		t.Skipf("skipping: our cgroup is not visible under %s", mnt)
	}
	before, err := Reader{}.Budget(0)
	if err != nil {
		t.Fatal(err)
	}
	if before.Cores.Cmp(big.NewRat(3, 2)) < 0 {
		t.Skipf("skipping: this process is already limited to %s, a quota of 1.5 would not show", before)
	}

	dir := filepath.Join(parent, fmt.Sprintf("drover-cpus-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
			t.Skipf("skipping: cannot create a cgroup: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	for file, value := range map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "150000"} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	// Registered after removeCgroup, so it runs first: the cgroup can only
	// be removed once the helper is gone.
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(cmd.Process.Pid)), 0); err != nil {
		t.Fatalf("moving the helper into %s: %v", dir, err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	err = cmd.Wait()
	waited = true
	if ctx.Err() != nil {
		t.Fatalf("helper timed out; stderr:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("helper: %v; stderr:\n%s", err, stderr.String())
	}
	t.Logf("helper in %s reported:\n%s%s", dir, stdout.String(), stderr.String())
	if !strings.Contains(stdout.String(), "cores=3/2\n") {
		t.Errorf("helper budget: want cores=3/2, got:\n%s", stdout.String())
	}
	if want := "source=cgroup v1 quota 150000/100000 at " + dir + "\n"; !strings.Contains(stdout.String(), want) {
		t.Errorf("helper source: want %q, got:\n%s", want, stdout.String())
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
