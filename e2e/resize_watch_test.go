package e2e

// What the resize tests need besides the harness: a cpu cgroup v1 of their
// own whose quota they rewrite while drover runs, and a count of drover's
// readings of a file, so that "after two readings" is something a test
// waits for instead of a guess at the recheck period.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuCgroup is a cgroup v1 cpu cgroup made for one test.
type cpuCgroup struct {
	t   *testing.T
	dir string
}

// newCPUCgroup makes a child of this process's cpu cgroup limited to cores
// CPUs. Call it before start: cleanups run last-in first-out, so the cgroup
// is removed after drover and its workers have left it.
func newCPUCgroup(t *testing.T, name string, cores int) *cpuCgroup {
	t.Helper()
	needRoot(t)
	needCPUs(t, 2)
	base := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(base, "cpu.cfs_quota_us")); err != nil {
		needFacility(t, "no cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu")
	}
	self := ""
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		needFacility(t, "no /proc/self/cgroup")
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && contains(strings.Split(parts[1], ","), "cpu") {
			self = parts[2]
		}
	}
	dir := filepath.Join(base, self, fmt.Sprintf("drover-resize-%d-%s", os.Getpid(), name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		needFacility(t, "cgroup v1 cpu hierarchy not writable here: %v", err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Rmdir(dir) != nil {
			if time.Now().After(deadline) {
				t.Errorf("cannot remove cgroup %s: processes still in it", dir)
				return
			}
			time.Sleep(20 * time.Millisecond) // the last processes are still leaving; no event for that
		}
	})
	c := &cpuCgroup{t: t, dir: dir}
	c.write("cpu.cfs_period_us", "100000")
	c.set(cores)
	return c
}

// set rewrites the quota to cores CPUs, as the kubelet does on a resize.
func (c *cpuCgroup) set(cores int) {
	c.t.Helper()
	c.write("cpu.cfs_quota_us", fmt.Sprint(cores*100000))
}

func (c *cpuCgroup) write(file, v string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, file), []byte(v), 0o644); err != nil {
		c.t.Fatalf("setting %s: %v", file, err)
	}
}

// join is the shell line that moves the shell, and so drover, into c.
func (c *cpuCgroup) join() string { return "echo $$ > " + filepath.Join(c.dir, "cgroup.procs") }

func (c *cpuCgroup) quotaFile() string { return filepath.Join(c.dir, "cpu.cfs_quota_us") }

// source is how drover names a quota of cores CPUs read from c.
func (c *cpuCgroup) source(cores int) string {
	return fmt.Sprintf("cgroup v1 quota %d/100000 at %s", cores*100000, c.dir)
}

// needCPUs skips a test whose budgets the machine's CPUs would cut.
func needCPUs(t *testing.T, n int) {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < n {
		t.Skipf("needs %d CPUs to see a budget of %d", n, n)
	}
}

// oneReader keeps drover's Go runtime from reading the quota file too:
// since Go 1.25 it reads the cgroup CPU limit again about every second to
// adjust GOMAXPROCS, and fileReads cannot tell those reads from drover's
// own readings of the budget. drover's sizing does not depend on it.
const oneReader = "GODEBUG=updatemaxprocs=0"

// fileReads counts reads of a file through inotify (IN_ACCESS works on
// cgroupfs too): each of drover's readings of the budget reads the quota
// file once. A goroutine drains the queue as events come, because the
// kernel merges an unread event into an identical one queued before it;
// count drains it once more itself, so a read that happened before a log
// line was written is always counted by a count taken after it.
type fileReads struct {
	t    *testing.T
	fd   int
	name string // with a directory watch: the file inside it
	mu   sync.Mutex
	n    int
	more chan struct{}
}

// watchReads counts reads of path; with name, path is a directory and
// reads of the file name in it count (a file replaced by rename keeps
// being watched that way).
func watchReads(t *testing.T, path, name string) *fileReads {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_ACCESS); err != nil {
		unix.Close(fd)
		t.Fatalf("inotify watch %s: %v", path, err)
	}
	stopR, stopW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &fileReads{t: t, fd: fd, name: name, more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stopR.Fd()), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if fds[1].Revents != 0 {
				return
			}
			r.count()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		stopW.Close()
		<-done
		stopR.Close()
		unix.Close(fd)
	})
	return r
}

// count is how many reads there have been so far.
func (r *fileReads) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	buf := make([]byte, 64*unix.SizeofInotifyEvent)
	for {
		n, err := unix.Read(r.fd, buf)
		if err != nil || n <= 0 {
			return r.n
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			// struct inotify_event: wd, mask, cookie, len, then the name.
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			size := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+size]), "\x00")
			if mask&unix.IN_ACCESS != 0 && name == r.name {
				r.n++
			}
			off += unix.SizeofInotifyEvent + size
		}
	}
}

// waitFor waits until there have been n reads in all.
func (r *fileReads) waitFor(n int, timeout time.Duration) {
	r.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for r.count() < n {
		select {
		case <-r.more:
		case <-deadline.C:
			r.t.Fatalf("timed out after %s waiting for reading %d of the budget (have %d)", timeout, n, r.count())
		}
	}
}
