package e2e

// The health server as a whole: liveness that dead workers cannot fail,
// start-up errors, DROVER_HEALTH_ADDR=off, and the `drover status` and
// `drover probe` verbs against a running drover.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Workers that crash at once, over and over, never fail /livez: Kubernetes
// would restart the pod for what drover is already handling.
func TestHealthLivenessIgnoresDeadWorkers(t *testing.T) {
	// DROVER_READY_DELAY keeps the crashing workers from ever counting as ready.
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_CRASH_LIMIT=0", "DROVER_READY_DELAY=1s"}, "sh", "-c", "exit 1")
	polls := throughout(t, 1500*time.Millisecond, "/livez 200 and /readyz 503 for 0 of 2 ready", func() (string, bool) {
		lcode, lbody := d.get("/livez")
		rcode, rbody := d.get("/readyz")
		return fmt.Sprintf("/livez %d %q, /readyz %d %q", lcode, lbody, rcode, rbody),
			lcode == 200 && lbody == "ok" && rcode == 503 && strings.Contains(rbody, "[-]workers failed: 0 of 2 workers ready, need 1\n")
	})
	s := d.status()
	if s.Restarts["exit"] < 3 {
		t.Errorf("%d restarts, want the workers to have crashed repeatedly meanwhile", s.Restarts["exit"])
	}
	for _, w := range s.Workers {
		if w.LastExit != "exit 1" && w.State != "starting" {
			t.Errorf("worker %+v, want last exit \"exit 1\"", w)
		}
	}
	t.Logf("/livez answered 200 to %d polls while the workers crashed %d times", polls, s.Restarts["exit"])
	d.stop()
}

// A taken health port stops drover before any worker starts, with one line
// naming DROVER_HEALTH_ADDR; so does an address that is no address.
func TestHealthBindFailureIsStartupError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	_, port, _ := net.SplitHostPort(taken)
	for _, tc := range []struct{ addr, want string }{
		{taken, fmt.Sprintf("drover: DROVER_HEALTH_ADDR=%q: port %s is already in use by another process", taken, port)},
		{"localhost", `drover: DROVER_HEALTH_ADDR="localhost": want host:port such as :8081, or off`},
	} {
		started := filepath.Join(t.TempDir(), "started")
		cmd := command(t, opts{pidns: true, env: []string{"DROVER_HEALTH_ADDR=" + tc.addr, "DROVER_WORKERS=2"}},
			"sh", "-c", "touch "+started+"; sleep 10")
		out, err := cmd.CombinedOutput()
		if code := exitCode(err); code != 2 {
			t.Errorf("%s: exit %d, want 2; output %q", tc.addr, code, out)
		}
		line := strings.TrimSpace(string(out))
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, tc.want) {
			t.Errorf("%s: output %q, want one line starting %q", tc.addr, line, tc.want)
		}
		if fileExists(started) {
			t.Errorf("%s: a worker started although drover could not serve its health endpoints", tc.addr)
		}
	}
}

// DROVER_HEALTH_ADDR=off: drover listens on nothing, and the pool runs.
func TestHealthAddrOff(t *testing.T) {
	dir := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"DROVER_HEALTH_ADDR=off", "DROVER_WORKERS=2",
		"DROVER_READY=notify", "HZ_READY=1", "HZ_DIR=" + dir, "DROVER_LOG_LEVEL=debug"}}, workerArgs(t, "hz-worker")...)
	p.waitLog(`worker ready worker=\d`, 2, 10*time.Second)
	if ls := listeningSockets(t, p.pid); len(ls) > 0 {
		t.Errorf("drover listens on %v with DROVER_HEALTH_ADDR=off", ls)
	}
	if n := p.count(`health server`); n > 0 {
		t.Errorf("log mentions a health server:\n%s", strings.Join(p.lines(), "\n"))
	}
	out, err := command(t, opts{env: []string{"DROVER_HEALTH_ADDR=off"}}, "probe", "livez").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "the health server is off") {
		t.Errorf("drover probe livez with the server off: exit %d %q, want 1 saying it is off", code, out)
	}
	p.stop()
}

// listeningSockets lists the TCP sockets in LISTEN state among pid's fds.
func listeningSockets(t *testing.T, pid int) []string {
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(table)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" && inodes[f[9]] { // 0A: TCP_LISTEN
				out = append(out, table+" "+f[1])
			}
		}
	}
	return out
}

// runVerb runs a drover verb the way `docker exec` or a HEALTHCHECK would,
// pointed at the health server by DROVER_HEALTH_ADDR.
func runVerb(t *testing.T, addr string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// command puts DROVER_HEALTH_ADDR=off first; the later entry wins.
	cmd := command(t, opts{env: []string{"DROVER_HEALTH_ADDR=" + addr}}, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return exitCode(err), o.String(), e.String()
}

// `drover status` prints the workers as a table; `drover probe` exits 0 on
// a passing endpoint and 1 otherwise: draining, or nothing listening.
func TestHealthStatusAndProbeCommands(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_READY=notify", "HZ_READY=1", "HZ_STATUS=serving",
		"DROVER_DRAIN_DELAY=20s"}, workerArgs(t, "hz-worker")...)
	d.infos(2)
	d.waitStatus("2 ready", 5*time.Second, readyIs(2))
	d.waitLog(`worker started`, 2, 10*time.Second) // drover's log may lag its state
	pids := d.workerPids()

	code, out, errOut := runVerb(t, d.addr, "status")
	if code != 0 {
		t.Fatalf("drover status: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := []string{
		`^ID\s+PID\s+STATE\s+READY\s+RESTARTS\s+UPTIME\s+RSS\s+CPU\s+LAST-EXIT\s+STATUS$`,
		`^0\s+` + strconv.Itoa(pids[0][0]) + `\s+ready\s+yes\s+0\s+\d+s\s+(-|[\d.]+ [KMG]iB)\s+[\d.]+s\s+-\s+serving$`,
		`^1\s+` + strconv.Itoa(pids[1][0]) + `\s+ready\s+yes\s+0\s+\d+s\s+(-|[\d.]+ [KMG]iB)\s+[\d.]+s\s+-\s+serving$`,
		`^desired 2, ready 2/2 \(need 1\), draining no, cpu budget [\d.]+ from .+ \(DROVER_WORKERS=2\), drover \S+ up \d+s$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("drover status printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("drover status line %d %q does not match %s", i, lines[i], re)
		}
	}
	for _, ep := range []string{"readyz", "livez"} {
		if code, out, errOut := runVerb(t, d.addr, "probe", ep); code != 0 || out != "ok\n" {
			t.Errorf("drover probe %s while ready: exit %d %q %q, want 0 ok", ep, code, out, errOut)
		}
	}

	d.signal(syscall.SIGTERM)
	d.waitStatus("draining", 5*time.Second, func(s statusDoc) bool { return s.Draining })
	if code, _, errOut := runVerb(t, d.addr, "probe", "readyz"); code != 1 ||
		!strings.Contains(errOut, "readyz: 503 Service Unavailable: [-]draining failed: drover is shutting down") {
		t.Errorf("drover probe readyz while draining: exit %d %q, want 1 naming the failed check", code, errOut)
	}
	if code, _, errOut := runVerb(t, d.addr, "probe", "livez"); code != 0 {
		t.Errorf("drover probe livez while draining: exit %d %q, want 0", code, errOut)
	}
	if _, out, _ := runVerb(t, d.addr, "status"); !strings.Contains(out, "draining yes") {
		t.Errorf("drover status while draining:\n%s", out)
	}

	d.stop() // the second SIGTERM ends the drain
	for _, verb := range [][]string{{"probe", "livez"}, {"probe", "readyz"}, {"status"}} {
		if code, _, errOut := runVerb(t, d.addr, verb...); code != 1 || errOut == "" {
			t.Errorf("drover %v with nothing listening: exit %d %q, want 1 and a reason", verb, code, errOut)
		}
	}
	if _, _, errOut := runVerb(t, d.addr, "status"); !strings.Contains(errOut, "see DROVER_HEALTH_ADDR") {
		t.Errorf("drover status with nothing listening says %q, want a hint at DROVER_HEALTH_ADDR", errOut)
	}
}
