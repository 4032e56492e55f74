package e2e

// Issue 17, case 1: the exec shim with many sockets under each /bin/sh a
// base image may have. Seven sockets put the exec-detection pipe at fd 10,
// which dash read as an argument "10" and a close of stdout: no worker
// ever became ready. Also: argv[0] stays what the user typed.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// argvRecord is what testdata/argvrec saw of itself.
type argvRecord struct {
	Argv      []string       `json:"argv"`
	Pid       int            `json:"pid"`
	ListenPid string         `json:"listen_pid"`
	ListenFDs string         `json:"listen_fds"`
	OOM       string         `json:"oom_score_adj"`
	FDs       map[int]string `json:"fds"`
}

var (
	argvrecOnce sync.Once
	argvrecDir  string
	argvrecErr  error
)

// argvrec builds testdata/argvrec once into a directory anyone may enter
// (workers may run as another user) and returns that directory, to put on
// PATH: the tests run it by its bare name.
func argvrec(t *testing.T) string {
	t.Helper()
	argvrecOnce.Do(func() {
		if argvrecDir, argvrecErr = os.MkdirTemp("", "drover-argvrec-"); argvrecErr != nil {
			return
		}
		if argvrecErr = os.Chmod(argvrecDir, 0o755); argvrecErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(argvrecDir, "argvrec"), "./testdata/argvrec").CombinedOutput()
		if err != nil {
			argvrecErr = fmt.Errorf("building testdata/argvrec: %v\n%s", err, out)
		}
	})
	if argvrecErr != nil {
		t.Fatal(argvrecErr)
	}
	return argvrecDir
}

// argvRecords waits until n workers have written their records in dir.
func argvRecords(t *testing.T, dir string, n int) map[string]argvRecord {
	t.Helper()
	out := map[string]argvRecord{}
	for name, b := range waitUp(t, dir, n) {
		var r argvRecord
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatalf("record %s: %v: %q", name, err, b)
		}
		out[name] = r
	}
	return out
}

// shellMount makes /bin/sh the named shell inside drover's own mount
// namespace (opts.pidns makes a private one), and fails the run unless it
// really is. mount follows the /bin/sh symlink, so the shell binary it
// names is covered, for drover's namespace only.
func shellMount(t *testing.T, name string) string {
	t.Helper()
	bin, _ := filepath.EvalSymlinks(program(t, name))
	return fmt.Sprintf(`mount --bind %[1]s /bin/sh && [ "$(stat -Lc %%d:%%i /bin/sh)" = "$(stat -c %%d:%%i %[1]s)" ] || { echo "/bin/sh is not %[1]s" >&2; exit 99; }`, bin)
}

// checkWorkerFDs fails unless fds holds exactly stdio as drover has it, n
// sockets at 3…, and what the worker's own Go runtime opened for itself
// (the cgroup CPU files, at the lowest free descriptors, once each).
func checkWorkerFDs(t *testing.T, who string, fds map[int]string, stdio [3]string, n int) {
	t.Helper()
	want := map[int]bool{}
	for fd := 0; fd < 3; fd++ {
		want[fd] = true
		if fds[fd] != stdio[fd] {
			t.Errorf("%s: fd %d is %q, want drover's %q", who, fd, fds[fd], stdio[fd])
		}
	}
	socks := map[string]bool{}
	for fd := 3; fd < 3+n; fd++ {
		want[fd] = true
		if !strings.HasPrefix(fds[fd], "socket:[") || socks[fds[fd]] {
			t.Errorf("%s: fd %d is %q, want a socket of its own", who, fd, fds[fd])
		}
		socks[fds[fd]] = true
	}
	seen, extra := map[string]bool{}, len(fds)-len(want)
	for fd := 3 + n; fd < 3+n+extra; fd++ {
		if target := fds[fd]; strings.HasPrefix(target, "/sys/fs/cgroup/") && !seen[target] {
			seen[target], want[fd] = true, true
		}
	}
	for fd, target := range fds {
		if !want[fd] {
			t.Errorf("%s: fd %d (%s) leaked into the worker", who, fd, target)
		}
	}
}

// droverStdio is what drover's own fds 0-2 point to.
func droverStdio(t *testing.T, pid int) [3]string {
	t.Helper()
	var out [3]string
	for fd := range out {
		target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd))
		if err != nil {
			t.Fatal(err)
		}
		out[fd] = target
	}
	return out
}

// Under dash, bash and busybox sh as /bin/sh, with 6 (the shell is the
// shim), 7, 16 and 64 sockets (drover's own shim: the pipe is fd 10 or
// more): every worker is ready, its argv is exactly the user's (argv[0] a
// bare name, arguments a shell would mangle), fds 0-2 are drover's, its
// sockets are at 3…, LISTEN_PID is its pid, nothing else leaked.
func TestShimManySocketsUnderEachShell(t *testing.T) {
	require(t, "root")
	bin := argvrec(t)
	args := []string{"argvrec", "a b", "", "$x", "-c", "10>&-", "*", "10"}
	for _, shell := range []string{"dash", "bash", "busybox"} {
		for _, n := range []int{6, 7, 16, 64} {
			t.Run(fmt.Sprintf("%s/%d", shell, n), func(t *testing.T) {
				out := t.TempDir()
				var specs []string
				for i := 0; i < n; i++ {
					specs = append(specs, fmt.Sprintf("s%d=tcp://127.0.0.1:0", i))
				}
				listen := strings.Join(specs, ",")
				d := start(t, opts{pidns: true, health: true, shell: shellMount(t, shell), env: []string{
					"DROVER_LISTEN=" + listen, "DROVER_WORKERS=2", "DROVER_READY=started", "ARGV_OUT=" + out, "PATH=" + bin + ":" + os.Getenv("PATH"),
				}}, args...)
				recs := argvRecords(t, out, 2)
				d.waitStatus("both workers ready", 10*time.Second, readyIs(2))
				d.expect("/readyz", 200, "ok")
				stdio := droverStdio(t, d.pid)
				for name, r := range recs {
					if !slices.Equal(r.Argv, args) {
						t.Errorf("worker %s: argv %q, want %q", name, r.Argv, args)
					}
					if r.ListenPid != strconv.Itoa(r.Pid) || r.ListenFDs != strconv.Itoa(n) {
						t.Errorf("worker %s: LISTEN_PID=%s LISTEN_FDS=%s, want %d and %d", name, r.ListenPid, r.ListenFDs, r.Pid, n)
					}
					checkWorkerFDs(t, "worker "+name, r.FDs, stdio, n)
				}
				d.stop()
				if c := d.count(`error|warning`); c > 0 {
					t.Errorf("%d error or warning lines", c)
				}
			})
		}
	}
}

// argv[0] is what the user typed on every path a worker starts by: a bare
// name or a path, directly (no sockets), through the shell (one socket)
// and through drover's shim (a variable name no shell passes on).
func TestShimKeepsArgv0(t *testing.T) {
	require(t, "root")
	bin := argvrec(t)
	for _, c := range []struct {
		name string
		env  []string
	}{
		{"direct", []string{"DROVER_WORKERS=1"}},
		{"shell", []string{"DROVER_LISTEN=127.0.0.1:0"}},
		{"drover's shim", []string{"DROVER_LISTEN=127.0.0.1:0", "a.b=1"}},
	} {
		for form, argv0 := range map[string]string{"name": "argvrec", "path": filepath.Join(bin, "argvrec")} {
			t.Run(c.name+"/"+form, func(t *testing.T) {
				out := t.TempDir()
				env := append([]string{"DROVER_WORKERS=1", "ARGV_OUT=" + out, "PATH=" + bin + ":" + os.Getenv("PATH")}, c.env...)
				d := start(t, opts{pidns: true, env: env}, argv0, "x")
				for name, r := range argvRecords(t, out, 1) {
					if want := []string{argv0, "x"}; !slices.Equal(r.Argv, want) {
						t.Errorf("worker %s: argv %q, want %q", name, r.Argv, want)
					}
				}
				d.stop()
			})
		}
	}
}
