package e2e

// Issue 10, items 2 and 3: DROVER_USER never wraps to root, and a drover
// binary only root may execute still starts workers as the user.

import (
	"os"
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
	require(t, "root")
	d := start(t, opts{env: []string{"DROVER_USER=65534", "DROVER_WORKERS=1"}}, "sleep", "1000")
	m := d.waitLog(`worker started worker=0 pid=(\d+)`, 1, 10*time.Second)
	waitUid(t, m[1], "65534")
	d.stop()
}

// waitUid waits until pid has exec'd (its uid settles before exec, and
// /proc has no event for a credential change) and checks every uid of
// /proc/pid/status.
func waitUid(t *testing.T, pid, uid string) {
	t.Helper()
	n, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{uid, uid, uid, uid}, " ")
	eventually(t, 5*time.Second, "worker "+pid+" to run as uid "+uid, func() (string, bool) {
		st := procStatus(n)
		if len(st) == 0 {
			t.Fatalf("worker %s is gone", pid)
		}
		got := strings.Join(strings.Fields(st["Uid"]), " ")
		return "Uid: " + got, got == want
	})
}

// A 0700 drover binary with DROVER_USER and DROVER_LISTEN: the exec shim
// that sets LISTEN_PID must not need the user to execute drover. The
// worker runs as 65534 and LISTEN_PID is its own pid.
func TestHostileUserPrivateBinary(t *testing.T) {
	require(t, "root")
	bin := publicCopy(t, droverBin, "drover", 0o700)
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
	url := onlyValue(addrs)
	env := getURL(t, url, "/env")
	m := regexp.MustCompile(`(?m)^pid=(\d+)$`).FindStringSubmatch(env)
	if m == nil || !strings.Contains(env, "\nLISTEN_PID="+m[1]+"\n") {
		t.Errorf("LISTEN_PID is not the worker's pid:\n%s", env)
	}
	if m != nil {
		waitUid(t, m[1], "65534")
	}
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(d.pid) + "/exe"); exe != bin {
		t.Errorf("drover runs from %q, want the private copy %q", exe, bin)
	}
	d.stop()
	if n := d.count(`permission denied|cannot run|exit 126`); n > 0 {
		t.Errorf("%d log lines show the shim failing", n)
	}
}

// onlyValue is any value of m, for a map of one.
func onlyValue(m map[string]string) string {
	for _, v := range m {
		return v
	}
	return ""
}
