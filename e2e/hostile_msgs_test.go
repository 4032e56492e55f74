package e2e

// Issue 10, item 10: the messages a user reads in ordinary situations are
// short and not alarming.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A SIGTERM while a notify reload waits for its new worker is a normal
// stop: every worker, the waiting replacement included, is stopped and
// reported, none is left behind, and no error line is logged. The workers
// are shell scripts, not hz-workers, whose parent-death signal would hide
// a worker drover forgot.
func TestHostileTermDuringNotifyReload(t *testing.T) {
	python := program(t, "python3")
	dir := t.TempDir()
	script := filepath.Join(dir, "app.sh")
	// The first worker of each slot says READY=1; replacements never do.
	err := os.WriteFile(script, []byte(`f=`+dir+`/first-$DROVER_WORKER_ID
if [ -e $f ]; then exec sleep 1000; fi
: > $f
`+python+` -c 'import os,socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a=os.environ["NOTIFY_SOCKET"]; s.connect("\0"+a[1:] if a.startswith("@") else a); s.send(b"READY=1")'
exec sleep 1000
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	d := start(t, opts{health: true, env: []string{"DROVER_WORKERS=2", "DROVER_READY=notify"}}, "sh", script)
	d.waitStatus("2 ready", 10*time.Second, readyIs(2))
	d.signal(syscall.SIGHUP)
	d.waitLog(`worker started`, 3, 10*time.Second)
	d.stop()
	d.settleLog()
	for id, pids := range d.workerPids() {
		for _, pid := range pids {
			if d.count(`worker (stopped|exited) worker=`+strconv.Itoa(id)+` pid=`+strconv.Itoa(pid)+` `) != 1 {
				t.Errorf("worker %d pid %d: no line saying it stopped", id, pid)
			}
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.HasPrefix(string(b), "sleep") {
				t.Errorf("worker %d pid %d is still running after drover exited", id, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if n := d.count(`^drover: error`); n != 0 {
		t.Errorf("%d error lines for a SIGTERM during a reload", n)
	}
}

// The summary of drover status says the CPU reason once.
func TestHostileStatusSummary(t *testing.T) {
	d := start(t, opts{health: true, env: []string{"DROVER_LISTEN=127.0.0.1:0"}}, "sleep", "1000")
	d.waitLog(`worker started`, 1, 10*time.Second)
	code, out, errOut := runVerb(t, d.addr, "status")
	if code != 0 {
		t.Fatalf("drover status: exit %d %q", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	if n := strings.Count(last, "cpu budget"); n != 1 {
		t.Errorf("summary names the cpu budget %d times: %q", n, last)
	}
	if !regexp.MustCompile(`^desired \d+, ready \d+/\d+ \(need \d+\), draining no, cpu budget `).MatchString(last) {
		t.Errorf("summary %q", last)
	}
	d.stop()
}
