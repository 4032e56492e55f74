package reaper

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// full pads a /proc/PID/stat fixture to the fields the kernel writes.
func full(stat string) string { return stat + strings.Repeat(" 0", 48) + "\n" }

// Children of every thread count; zombies, vanished pids and garbage do not.
func TestProcChildrenFromTasks(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"self/task/1/children": "10 11 12\n",
		"self/task/2/children": "13 x -4",
		"self/task/3/children": "",
		"10/stat":              full("10 (sleep) S 1 10 10 0"),
		"11/stat":              full("11 (zombie) Z 1 11 11 0"),
		"13/stat":              full("13 (a) b) (c) R 1 13 13 0"),
		// 12 exited between the two reads: no stat.
		// Not our child, but would be found by a scan:
		"99/stat": full("99 (other) S 1 99 99 0"),
	})
	got, err := procChildren{proc: root, self: 1}.list()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{10, 13}; !reflect.DeepEqual(got, want) {
		t.Errorf("children %v, want %v", got, want)
	}
}

// Without per-task children files (CONFIG_PROC_CHILDREN off) every stat is
// read and the parent compared.
func TestProcChildrenScanFallback(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"self/status": "",
		"5/stat":      full("5 (drover) S 0 5 5 0"),
		"10/stat":     full("10 (sleep) S 5 10 10 0"),
		"11/stat":     full("11 (zombie) Z 5 11 11 0"),
		"12/stat":     full("12 (other) S 1 12 12 0"),
		"13/stat":     "garbage",
		"14/stat":     "14 (x) SS 5",
		"net/stat":    "",
	})
	got, err := procChildren{proc: root, self: 5}.list()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []int{10}; !reflect.DeepEqual(got, want) {
		t.Errorf("children %v, want %v", got, want)
	}
	if _, err := (procChildren{proc: filepath.Join(root, "missing"), self: 5}).list(); err == nil {
		t.Error("no error for a missing procfs")
	}
}

// On the real /proc: live children are listed, an unreaped zombie is not.
func TestProcChildrenReal(t *testing.T) {
	var live []int
	for range 3 {
		cmd := exec.Command("sleep", "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		live = append(live, cmd.Process.Pid)
	}
	dead := exec.Command("true")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Wait() })
	// Wait for it to exit without reaping it, so it stays a zombie.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, dead.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	got, err := procChildren{proc: "/proc", self: os.Getpid()}.list()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range live {
		if !slices.Contains(got, p) {
			t.Errorf("live child %d missing from %v", p, got)
		}
	}
	if slices.Contains(got, dead.Process.Pid) {
		t.Errorf("zombie %d listed in %v", dead.Process.Pid, got)
	}
}
