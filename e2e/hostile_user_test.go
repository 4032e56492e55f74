package e2e

// Issue 10, items 2 and 3: DROVER_USER never wraps to root, and a drover
// binary only root may execute still starts workers as the user.

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// uids outside 0…2³²−2 are refused before anything starts: 2³² used to
// wrap to 0 and run the workers as root.
func TestHostileUserOutOfRange(t *testing.T) {
	for _, v := range []string{"4294967296", "4294967295", "-1", "99999999999", "0:4294967296", "65534:-1"} {
		out, err := command(t, opts{env: []string{"DROVER_USER=" + v}}, "id", "-u").CombinedOutput()
		line := strings.TrimSpace(string(out))
		if code := exitCode(err); code != 2 {
			t.Errorf("DROVER_USER=%s: exit %d, want 2; output %q", v, code, out)
		}
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, `drover: DROVER_USER="`+v+`"`) {
			t.Errorf("DROVER_USER=%s: want one line naming DROVER_USER and the value, got %q", v, line)
		}
	}
}

// A valid non-root uid really is the worker's uid, read from /proc.
func TestHostileUserRunsWorkerAsUid(t *testing.T) {
	needRoot(t)
	d := start(t, opts{env: []string{"DROVER_USER=65534", "DROVER_WORKERS=1"}}, "sleep", "1000")
	m := d.waitLog(`worker started worker=0 pid=(\d+)`, 1, 10*time.Second)
	hostileCheckUid(t, m[1], "65534")
	d.stop()
}

// hostileCheckUid waits until pid has exec'd (its uid settles before exec) and
// checks every uid of /proc/pid/status.
func hostileCheckUid(t *testing.T, pid, uid string) {
	t.Helper()
	want := regexp.MustCompile(`(?m)^Uid:\s+` + uid + `\s+` + uid + `\s+` + uid + `\s+` + uid + `$`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatalf("worker %s: %v", pid, err)
		}
		if want.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			line := regexp.MustCompile(`(?m)^Uid:.*$`).Find(b)
			t.Fatalf("worker %s runs as %q, want uid %s", pid, line, uid)
		}
		time.Sleep(5 * time.Millisecond) // /proc has no event for a credential change
	}
}

// hostilePrivateCopy copies file to a fresh directory anyone may enter, with mode
// 0700: only root may execute it.
func hostilePrivateCopy(t *testing.T, file string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hostile-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "drover")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A 0700 drover binary with DROVER_USER and DROVER_LISTEN: the exec shim
// that sets LISTEN_PID must not need the user to execute drover. The
// worker runs as 65534 and LISTEN_PID is its own pid.
func TestHostileUserPrivateBinary(t *testing.T) {
	needRoot(t)
	bin := hostilePrivateCopy(t, droverBin)
	worker := worldExecutable(t)
	// The wrap drops the harness's binary and execs the private copy in
	// its place, so /proc/self/exe is the 0700 file.
	d := start(t, opts{
		wrap: []string{"sh", "-c", `shift; exec "$0" "$@"`, bin},
		env:  []string{"DROVER_USER=65534", "DROVER_LISTEN=127.0.0.1:0", "DROVER_WORKERS=1"},
	}, workerCommand(worker, "listen-http")...)
	addrs := boundAddrs(t, d)
	if len(addrs) != 1 {
		t.Fatalf("want one socket, drover listens on %v", addrs)
	}
	url := hostileFirst(addrs)
	env := getURL(t, url, "/env")
	m := regexp.MustCompile(`(?m)^pid=(\d+)$`).FindStringSubmatch(env)
	if m == nil || !strings.Contains(env, "\nLISTEN_PID="+m[1]+"\n") {
		t.Errorf("LISTEN_PID is not the worker's pid:\n%s", env)
	}
	if m != nil {
		hostileCheckUid(t, m[1], "65534")
	}
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(d.pid) + "/exe"); exe != bin {
		t.Errorf("drover runs from %q, want the private copy %q", exe, bin)
	}
	d.stop()
	if n := d.count(`permission denied|cannot run|exit 126`); n > 0 {
		t.Errorf("%d log lines show the shim failing", n)
	}
}

// hostileFirst is any value of m, for a map of one.
func hostileFirst(m map[string]string) string {
	for _, v := range m {
		return v
	}
	return ""
}
