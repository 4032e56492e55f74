package e2e

// What a test sees of the host around drover: processes in /proc, files the
// workers write, ports, and paths in the repository.

import (
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

func parentOf(pid string) int {
	b, _ := os.ReadFile("/proc/" + pid + "/stat")
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	n, _ := strconv.Atoi(f[1])
	return n
}

// waitFile waits until path exists and holds a line matching re.
func waitFile(t *testing.T, path, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if rx.Match(b) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s to match %q; it holds %q", timeout, path, re, b)
		}
		time.Sleep(10 * time.Millisecond) // polling a file: there is no event to wait on
	}
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
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
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
