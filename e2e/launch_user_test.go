package e2e

// Issue 17, case 6: DROVER_USER when drover is not root. Naming drover's
// own user and group needs no privilege at all; any other user or group
// without CAP_SETUID / CAP_SETGID is refused at start (exit 2, one line),
// where it used to fail every worker with EPERM (126, a crash loop).

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// publicDrover copies the drover under test where any user may run it
// (the harness keeps it in a directory only root may enter) and returns a
// wrap that runs it as uid and gid 65534 with setpriv's extra arguments.
func publicDrover(t *testing.T, setpriv ...string) []string {
	t.Helper()
	bin := publicCopy(t, droverBin, "drover", 0o755)
	// The shell drops the harness's own binary from the command line and
	// runs the public copy in its place.
	return append(append([]string{program(t, "setpriv")}, setpriv...), "--", "sh", "-c", `shift; exec "$0" "$@"`, bin)
}

// The command and its neighbours, as uid 65534: drover's own user
// (by ids, by uid, by name) runs the program; another user, another group,
// or other supplementary groups are refused before anything starts, in
// one line naming DROVER_USER and why.
func TestUserWhenDroverIsNotRoot(t *testing.T) {
	require(t, "root")
	asNobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups"}
	const accept = `accepted: uid[:gid] (0 to 4294967294) or a user[:group] name`
	for _, c := range []struct {
		name, user string
		setpriv    []string
		code       int
		out        string
	}{
		{"own ids", "65534:65534", asNobody, 0, "uid=65534"},
		{"own uid", "65534", asNobody, 0, "uid=65534"},
		{"own name", "nobody", asNobody, 0, "uid=65534"},
		{"root", "0", asNobody, 2, `drover: DROVER_USER="0" is not valid; ` + accept +
			` (drover runs as uid 65534 without CAP_SETUID; DROVER_USER can only name that user)`},
		{"another group", "65534:0", asNobody, 2, `drover: DROVER_USER="65534:0" is not valid; ` + accept +
			` (drover runs as gid 65534 without CAP_SETGID; DROVER_USER can only name that group)`},
		{"other supplementary groups", "65534:65534", []string{"--reuid=65534", "--regid=65534", "--groups=100"}, 2,
			`drover: DROVER_USER="65534:65534" is not valid; ` + accept +
				` (drover runs with supplementary groups 100 and, without CAP_SETGID, cannot change them to none; leave DROVER_USER unset to run workers as drover itself)`},
		{"root without CAP_SETUID", "65534", []string{"--bounding-set=-setuid"}, 2,
			`drover: DROVER_USER="65534" is not valid; ` + accept +
				` (drover runs as uid 0 without CAP_SETUID; DROVER_USER can only name that user)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := command(t, opts{wrap: publicDrover(t, c.setpriv...), env: []string{"DROVER_USER=" + c.user}}, "id").CombinedOutput()
			got := strings.TrimSpace(string(out))
			if code := exitCode(err); code != c.code {
				t.Errorf("exit %d, want %d; output %q", code, c.code, got)
			}
			if c.code == 2 && got != c.out {
				t.Errorf("output\n %q\nwant\n %q", got, c.out)
			}
			if c.code == 0 && (!strings.HasPrefix(got, c.out) || strings.Contains(got, "drover:")) {
				t.Errorf("output %q, want id's line starting %q and nothing from drover", got, c.out)
			}
		})
	}
}

// A pool as uid 65534 with DROVER_USER naming that user and sockets for
// the exec shim: every worker starts and runs as 65534, no start fails.
func TestUserPoolWhenDroverIsNotRoot(t *testing.T) {
	require(t, "root")
	out := publicDir(t, 0o777)
	bin := argvrec(t)
	d := start(t, opts{
		wrap: publicDrover(t, "--reuid=65534", "--regid=65534", "--clear-groups"),
		env: []string{"DROVER_USER=65534:65534", "DROVER_LISTEN=127.0.0.1:0", "DROVER_WORKERS=2",
			"ARGV_OUT=" + out, "PATH=" + bin + ":" + os.Getenv("PATH")},
	}, "argvrec")
	for name, r := range argvRecords(t, out, 2) {
		if r.ListenPid != strconv.Itoa(r.Pid) {
			t.Errorf("worker %s: LISTEN_PID %s, want %d", name, r.ListenPid, r.Pid)
		}
		waitUid(t, strconv.Itoa(r.Pid), "65534")
	}
	d.stop()
	if n := d.count(`cannot run|not permitted|failed`); n > 0 {
		t.Errorf("%d log lines show a failed start", n)
	}
}
