package e2e

// What a test sees of the host around drover: processes in /proc, files the
// workers write, ports, and paths in the repository.

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostPid maps a pid inside drover's namespace to the test's view.
func (d *drover) hostPid(nsPid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := strings.Fields(procStatus(pid)["NSpid"])
		if len(f) == 2 && f[1] == strconv.Itoa(nsPid) && parentOf(e.Name()) == d.pid {
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	d.t.Fatalf("no process with pid %d in drover's namespace", nsPid)
	return 0
}

// procStatus is /proc/PID/status as field → value ("Uid" → "0\t0\t0\t0",
// "CapEff" → "000001ffffffffff"); empty if pid is gone.
func procStatus(pid int) map[string]string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// Capability bits, as CapEff counts them (linux/capability.h).
const (
	capSysPtrace   = 19
	capSysResource = 24
)

// hasCap says whether pid holds a capability in its effective set.
func hasCap(t *testing.T, pid int, bit uint) bool {
	t.Helper()
	v, ok := procStatus(pid)["CapEff"]
	if !ok {
		t.Fatalf("no CapEff in /proc/%d/status", pid)
	}
	mask, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		t.Fatalf("/proc/%d/status: CapEff %q: %v", pid, v, err)
	}
	return mask&(1<<bit) != 0
}

// statFields are the fields of a /proc/PID/stat (or task stat) file after
// the command name: state, ppid, pgrp, …; nil if it cannot be read.
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// parentOf is the parent pid of pid, 0 if it is gone.
func parentOf(pid string) int {
	f := statFields("/proc/" + pid + "/stat")
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// procState is the state letter of pid ('T' when stopped), 0 if it is gone.
func procState(pid int) byte {
	if f := statFields("/proc/" + strconv.Itoa(pid) + "/stat"); len(f) > 0 {
		return f[0][0]
	}
	return 0
}

// openFDs is how many descriptors pid holds.
func openFDs(pid int) int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents)
}

// cpuTicks is the user and system time of pid, in clock ticks (1/100 s).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	f := statFields("/proc/" + strconv.Itoa(pid) + "/stat")
	if len(f) < 13 {
		t.Fatalf("no /proc/%d/stat", pid)
	}
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

// children lists the children of pid. Every thread's list is read: a Go
// parent forks from any of its threads.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

// firstChildOf waits for a child of pid (a worker, or a worker's own
// child) that runs a program of its own, and returns it; /proc has no
// event for a fork or an exec. A child still running pid's executable is
// passed over: a fork that has not exec'd yet, or the child a Go parent
// forks once to probe clone(CLONE_PIDFD), which exits without exec.
func firstChildOf(t *testing.T, pid int) int {
	t.Helper()
	exe := func(pid int) string {
		p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			return "gone"
		}
		return p
	}
	var child int
	eventually(t, 10*time.Second, fmt.Sprintf("a child of process %d running a program of its own", pid), func() (string, bool) {
		parent := exe(pid)
		var seen []string
		for _, c := range children(pid) {
			if e := exe(c); e != "gone" && e != parent {
				child = c
				return "", true
			}
			seen = append(seen, fmt.Sprintf("%d %s (state %c)", c, exe(c), procState(c)))
		}
		return fmt.Sprintf("process %d %s, children %v", pid, parent, seen), false
	})
	return child
}

// waitFile waits until path exists and holds a line matching re, and
// returns its content.
func waitFile(t *testing.T, path, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	return eventually(t, timeout, fmt.Sprintf("%s to match %q", path, re), func() (string, bool) {
		b, _ := os.ReadFile(path)
		return string(b), rx.Match(b)
	})
}

// parseNanos reads a time a worker wrote in Unix nanoseconds.
func parseNanos(t *testing.T, s string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(0, n)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// freeAddr is a loopback host:port nobody listens on right now, for the
// tests that must name a fixed address (clients that start before drover
// says where it listens). Another process could take it in between, which
// on a test machine does not happen in practice.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testdata is the absolute path of a file in e2e/testdata.
func testdata(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", name))
	return p
}

// repoFile is the absolute path of a file elsewhere in the repository
// (examples/…), relative to its root.
func repoFile(rel string) string {
	p, _ := filepath.Abs(filepath.Join("..", rel))
	return p
}

// zombies lists zombie children of pid.
func zombies(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		f := statFields("/proc/" + e.Name() + "/stat")
		if len(f) > 2 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(e.Name())
			out = append(out, n)
		}
	}
	return out
}

// readmeVars are the variables in README.md's table.
func readmeVars(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(repoFile("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `DROVER_") {
			keys = append(keys, strings.Trim(strings.Fields(l)[1], "`"))
		}
	}
	if len(keys) == 0 {
		t.Fatal("README.md has no table of DROVER_* variables")
	}
	return keys
}

// publicDir is a fresh directory with mode, removed when the test ends:
// 0755 for one any user may enter (t.TempDir and the go build cache are
// private to root), 0777 for one a worker running as another user may
// write.
func publicDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "drover-e2e-public-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// publicCopy copies file as name, with mode, into a fresh directory any
// user may enter: 0755 for a program another user runs, 0700 for one
// only root may execute, 0644 for a script another user reads.
func publicCopy(t *testing.T, file, name string, mode os.FileMode) string {
	t.Helper()
	dst := filepath.Join(publicDir(t, 0o755), name)
	copyFile(t, file, dst, mode)
	return dst
}

// copyFile copies src to a new file dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// worldExecutable is a copy of the test binary that any user can run, for
// workers under DROVER_USER.
func worldExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return publicCopy(t, exe, "worker", 0o755)
}
