package e2e

// What a test needs from the machine. A developer's laptop may lack root,
// podman or cgroup v1, and the tests that need them skip there; CI must
// never pass by skipping, so it lists what its machine has in
// DROVER_E2E_REQUIRE, and a test that finds a listed facility missing
// fails instead, naming itself and the facility.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireEnv lists the facilities whose absence fails a test instead of
// skipping it: comma-separated names from facilities, "cgroup-v1" for
// every controller, or "all".
const requireEnv = "DROVER_E2E_REQUIRE"

// facilities are what tests may need, each with the check that finds it;
// a check's error says what is missing. Each check runs once per test
// binary.
var facilities = map[string]func() error{
	"root": func() error {
		if os.Geteuid() != 0 {
			return errors.New("not root: PID namespaces (unshare --pid), cgroups, DROVER_USER and podman need it; run the suite as root, as CI does")
		}
		return nil
	},
	"cgroup-v1/cpu":    func() error { return cgroupV1("cpu") },
	"cgroup-v1/pids":   func() error { return cgroupV1("pids") },
	"cgroup-v1/memory": func() error { return cgroupV1("memory") },
	// The resize tests watch budgets of 1 and 2 CPUs; drover caps a budget
	// at the CPUs it may run on, so on one CPU both read as 1.
	"two-cpus": func() error {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return fmt.Errorf("sched_getaffinity: %w", err)
		}
		if n := set.Count(); n < 2 {
			return fmt.Errorf("this process may run on %d CPU, the test needs 2", n)
		}
		return nil
	},
	"pty": func() error {
		m, s, err := ptyPair()
		if err != nil {
			return err
		}
		m.Close()
		s.Close()
		return nil
	},
	"ipv6": func() error {
		l, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			return fmt.Errorf("no IPv6 on loopback: %w", err)
		}
		return l.Close()
	},
	// podman runs with --runtime runc (podmanArgs).
	"podman": func() error { return programs("podman", "runc") },
	"python3": func() error {
		_, err := realPython()
		return err
	},
	"node": func() error { return programs("node") },
	// Servers and tools particular tests run; .ci/run installs them.
	"gunicorn": func() error { return programs("gunicorn") },
	"puma":     func() error { return programs("puma") },
	"perl":     func() error { return programs("perl") },
	"setpriv":  func() error { return programs("setpriv") },
	"dash":     func() error { return programs("dash") },
	"busybox":  func() error { return programs("busybox") },
	"bash":     func() error { return programs("bash") },
	"ldd":      func() error { return programs("ldd") },
	"curl":     func() error { return programs("curl") },
}

// checked runs each facility's check once.
var checked = func() map[string]func() error {
	m := map[string]func() error{}
	for name, check := range facilities {
		m[name] = sync.OnceValue(check)
	}
	return m
}()

// require skips the test unless the machine has every facility named, or
// fails it if DROVER_E2E_REQUIRE lists the missing one.
func require(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		check, ok := checked[name]
		if !ok {
			t.Fatalf("require(%q): no such facility; known: %s", name, strings.Join(facilityNames(), ", "))
		}
		err := check()
		if err == nil {
			continue
		}
		if required(os.Getenv(requireEnv), name) {
			t.Fatalf("%s needs %s, which %s=%s requires: %v", t.Name(), name, requireEnv, os.Getenv(requireEnv), err)
		}
		t.Skipf("needs %s: %v", name, err)
	}
}

// program is the path of an installed program the test runs; a missing
// one is the facility of its name.
func program(t testing.TB, name string) string {
	t.Helper()
	require(t, name)
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// required reports whether list (DROVER_E2E_REQUIRE's value) names
// facility: itself, a group it is in ("cgroup-v1" for "cgroup-v1/cpu"),
// or "all".
func required(list, facility string) bool {
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "all" || f == facility || (f != "" && strings.HasPrefix(facility, f+"/")) {
			return true
		}
	}
	return false
}

// checkRequireList refuses a DROVER_E2E_REQUIRE naming nothing known: a
// misspelt name would otherwise require nothing.
func checkRequireList(list string) error {
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" || f == "all" {
			continue
		}
		if !slices.ContainsFunc(facilityNames(), func(name string) bool { return required(f, name) }) {
			return fmt.Errorf("%s=%s: no facility %q; known: all, cgroup-v1, %s", requireEnv, list, f, strings.Join(facilityNames(), ", "))
		}
	}
	return nil
}

func facilityNames() []string {
	var names []string
	for name := range facilities {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func programs(names ...string) error {
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s is not installed: %w", name, err)
		}
	}
	return nil
}

// cgroupV1 checks that this process's cgroup in the v1 hierarchy of
// controller exists and takes a child: on a cgroup v2 host, or in an
// unprivileged container, it does not.
func cgroupV1(controller string) error {
	base := filepath.Join("/sys/fs/cgroup", controller)
	if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
		return fmt.Errorf("no cgroup v1 %s hierarchy at %s: %w", controller, base, err)
	}
	self, err := ownCgroup(controller)
	if err != nil {
		return err
	}
	probe := filepath.Join(base, self, "drover-e2e-probe-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return fmt.Errorf("cgroup v1 %s hierarchy not writable here: %w", controller, err)
	}
	return os.Remove(probe)
}

// realPython is the python3 interpreter itself: a pyenv shim needs an
// environment that drover's minimal test environment does not carry.
func realPython() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("python3 does not run: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ptyPair opens a pseudo-terminal: its master and its slave.
func ptyPair() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("no pseudo-terminal: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("no pseudo-terminal: unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("no pseudo-terminal: ptsname: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("no pseudo-terminal: %w", err)
	}
	return m, s, nil
}

// The list's forms: a name, a group of names, all; a misspelt name is an
// error, not a requirement of nothing.
func TestRequireList(t *testing.T) {
	for _, tc := range []struct {
		list, facility string
		want           bool
	}{
		{"", "root", false},
		{"root", "root", true},
		{"root,podman", "podman", true},
		{" root , pty ", "pty", true},
		{"cgroup-v1", "cgroup-v1/pids", true},
		{"cgroup-v1/cpu", "cgroup-v1/pids", false},
		{"cgroup", "cgroup-v1/cpu", false},
		{"all", "ipv6", true},
		{"python", "python3", false},
	} {
		if got := required(tc.list, tc.facility); got != tc.want {
			t.Errorf("required(%q, %q) = %v, want %v", tc.list, tc.facility, got, tc.want)
		}
	}
	for list, ok := range map[string]bool{"": true, "all": true, "root,cgroup-v1,podman": true, "cgroup-v1/pids": true,
		"roots": false, "root,cgroups": false, "cgroup-v1/blkio": false} {
		if err := checkRequireList(list); (err == nil) != ok {
			t.Errorf("checkRequireList(%q) = %v, want ok %v", list, err, ok)
		}
	}
}
