package cpus

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-init/drover/internal/kfile"
)

// within runs f and fails the test if it has not returned after d: a read
// that blocks must show up as a failure, not as a hung test binary.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %s", what, d)
	}
}

// Every file that is not a regular one is refused at once, saying what it
// is; a FIFO with no writer above all, which blocks open(2) and read(2).
func TestReadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{
		fifo:        "a FIFO",
		link:        "a FIFO",
		dir:         "a directory",
		"/dev/zero": "a character device",
		"/dev/null": "a character device",
		sock:        "a socket",
	} {
		within(t, 2*time.Second, path, func() {
			_, err := readAt(path, path)
			if !errors.Is(err, kfile.ErrNotRegular) || !strings.Contains(err.Error(), "not a regular file ("+what+")") {
				t.Errorf("%s: %v, want not a regular file (%s)", path, err, what)
			}
		})
	}
}

// /proc/self/mem is a regular file that cannot be read from offset 0: an
// error, not a hang and not a number.
func TestReadProcSelfMem(t *testing.T) {
	within(t, 2*time.Second, "/proc/self/mem", func() {
		if _, err := readAt("/proc/self/mem", "/proc/self/mem"); err == nil {
			t.Error("/proc/self/mem read without error")
		}
	})
}

// Regular files, cgroup and /proc files among them, read as before; a
// file over the bound is refused.
func TestReadRegular(t *testing.T) {
	f := filepath.Join(t.TempDir(), "cpu")
	if err := os.WriteFile(f, []byte("1500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readAt(f, f); err != nil || got != "1500\n" {
		t.Errorf("regular file: %q, %v", got, err)
	}
	if got, err := readAt("/proc/self/cgroup", "/proc/self/cgroup"); err != nil || got == "" {
		t.Errorf("/proc/self/cgroup: %q, %v", got, err)
	}
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readAt(big, big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("file over the bound: %v", err)
	}
	if _, err := readAt(filepath.Join(t.TempDir(), "missing"), "missing"); !isMissing(err) {
		t.Errorf("missing file: %v, want not exist", err)
	}
}

// A FIFO as DROVER_CPU_FILE costs one warning; the budget comes from the
// other limits at once.
func TestCPUFileFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "cpu_limit")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	r := Reader{
		Root:     t.TempDir(),
		Affinity: func() (int, error) { return 4, nil },
		CPUFile:  fifo,
		Warn:     func(s string) { warnings = append(warnings, s) },
	}
	within(t, 2*time.Second, "Budget with a FIFO", func() {
		b, err := r.Budget(0)
		if err != nil || b.Cores.RatString() != "4" {
			t.Errorf("budget %v, %v; want 4 from the affinity", b, err)
		}
	})
	if len(warnings) != 1 || !strings.Contains(warnings[0], "ignoring DROVER_CPU_FILE "+fifo) || !strings.Contains(warnings[0], "a FIFO") {
		t.Errorf("warnings %q, want one naming DROVER_CPU_FILE and the FIFO", warnings)
	}
}
