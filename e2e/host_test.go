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
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "NSpid:" && f[2] == strconv.Itoa(nsPid) {
				if ppid := parentOf(e.Name()); ppid == d.pid {
					n, _ := strconv.Atoi(f[1])
					return n
				}
			}
		}
	}
	d.t.Fatalf("no process with pid %d in drover's namespace", nsPid)
	return 0
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

// publicCopy copies file into a fresh directory that any user may enter
// (t.TempDir and the go build cache are private to root) as name, with
// mode, and removes it when the test ends: 0755 for a program another
// user runs, 0700 for one only root may execute.
func publicCopy(t *testing.T, file, name string, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "drover-e2e-copy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
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
