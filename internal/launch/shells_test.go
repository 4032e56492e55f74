package launch

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// testShells are the shells drover may find at /bin/sh: Debian's dash,
// bash (Fedora, RHEL), busybox's ash (Alpine). Each runs as "sh", as it
// would there. A missing one fails in CI (.ci/run installs them) and skips
// elsewhere.
func testShells(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"dash", "bash", "busybox"} {
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (.ci/run installs it)", name)
			}
			t.Logf("%s is not installed; not tested", name)
			continue
		}
		out[name] = p
	}
	return out
}

// record is what the recorder helper saw of itself.
type record struct {
	Argv      []string
	Pid       int
	ListenPid string
	FDs       map[int]string // fd -> readlink of /proc/self/fd/N
}

// recordHelper writes what the program sees to $REC: its argv, pid,
// LISTEN_PID and every open descriptor.
func recordHelper() int {
	r := record{Argv: os.Args, Pid: os.Getpid(), ListenPid: os.Getenv("LISTEN_PID"), FDs: map[int]string{}}
	// Listing the directory opens one descriptor; read the links first.
	for fd := 0; fd < 1024; fd++ {
		if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil {
			r.FDs[fd] = target
		}
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(os.Getenv("REC"), b, 0o644); err != nil {
		return 1
	}
	return 0
}

// Under dash, bash and busybox sh, with 0 to 64 sockets, the program sees
// exactly the argv the user gave (argv[0] as typed, a bare name), stdio as
// given, the sockets at fds 3… in order, no other descriptor, and
// LISTEN_PID equal to its pid. Up to 6 sockets the shell is the shim (a
// missing drover shim proves it); from 7 the exec-detection pipe would be
// fd 10, which dash cannot name, and drover's own shim takes over.
func TestShimUnderEachShell(t *testing.T) {
	bin := t.TempDir()
	prog := filepath.Join(bin, "recorder")
	if err := os.Symlink(self(t), prog); err != nil {
		t.Fatal(err)
	}
	argv := []string{"recorder", "a b", "", "$x", "-c", "10>&-", "*"}
	for name, sh := range testShells(t) {
		for _, n := range []int{0, 1, 6, 7, 16, 64} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				var files []*os.File
				want := map[int]string{}
				for i := 0; i < n; i++ {
					l, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
					f, err := l.(*net.TCPListener).File()
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					var st syscall.Stat_t
					if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
						t.Fatal(err)
					}
					files = append(files, f)
					want[3+i] = fmt.Sprintf("socket:[%d]", st.Ino)
				}
				dir := t.TempDir()
				stdout, _ := os.Create(filepath.Join(dir, "stdout"))
				defer stdout.Close()
				stderr, _ := os.Create(filepath.Join(dir, "stderr"))
				defer stderr.Close()
				want[0], want[1], want[2] = os.DevNull, stdout.Name(), stderr.Name()
				shim := "/nonexistent/shim/not/used"
				if n >= 7 {
					shim = self(t)
				}
				rec := filepath.Join(dir, "rec")
				x := &Exec{Path: prog, Args: argv, Shim: shim, Sh: sh, PidVars: []string{"LISTEN_PID"},
					Stdout: stdout, Stderr: stderr}
				p, err := x.Start([]string{"PATH=" + bin, "REC=" + rec, "LAUNCH_TEST_HELPER=record"}, files)
				if err != nil {
					t.Fatal(err)
				}
				waitExecd(t, p)
				if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
					t.Fatalf("worker exited %v; stderr %q", ws, readFile(t, stderr.Name()))
				}
				var got record
				if err := json.Unmarshal([]byte(readFile(t, rec)), &got); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Argv, argv) {
					t.Errorf("argv %q, want %q", got.Argv, argv)
				}
				if got.Pid != p.Pid || got.ListenPid != strconv.Itoa(p.Pid) {
					t.Errorf("pid %d, LISTEN_PID %q; want both %d", got.Pid, got.ListenPid, p.Pid)
				}
				for fd, target := range want {
					if got.FDs[fd] != target {
						t.Errorf("fd %d is %q, want %q", fd, got.FDs[fd], target)
					}
				}
				// The recorder's Go runtime opens the cgroup CPU files for
				// itself (at the lowest free descriptors, each once); anything
				// else is a leak.
				seen, extra := map[string]bool{}, len(got.FDs)-len(want)
				for fd := 3 + n; fd < 3+n+extra; fd++ {
					if target := got.FDs[fd]; strings.HasPrefix(target, "/sys/fs/cgroup/") && !seen[target] {
						seen[target] = true
						want[fd] = target
					}
				}
				for fd, target := range got.FDs {
					if _, ok := want[fd]; !ok {
						t.Errorf("fd %d (%s) leaked into the program", fd, target)
					}
				}
				if t.Failed() {
					t.Logf("stderr: %q", readFile(t, stderr.Name()))
				}
			})
		}
	}
}
