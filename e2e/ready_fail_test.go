package e2e

// Readiness that does not come: a worker that never listens on drover's
// socket, a crash loop on "address already in use", a shell without exec.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A worker serving on a port of its own is stopped after
// DROVER_STARTUP_TIMEOUT with a line saying what drover waited for and what
// the worker does instead, and restarted.
func TestReadyNeverListens(t *testing.T) {
	d, url := startReady(t, opts{env: []string{"DROVER_WORKERS=1", "READY_MODE=other-port",
		"DROVER_STARTUP_TIMEOUT=2s", "DROVER_CRASH_LIMIT=0"}}, readyPython(t), testdata("ready/server.py"))
	addr := strings.TrimPrefix(url, "tcp://")
	m := d.waitLog(`warning: worker did not start listening on tcp://(\S+) \(fd 3\) within 2s; is it using fd 3 / LISTEN_FDS\? see docs/languages.md; stopping it worker=0 pid=\d+ DROVER_STARTUP_TIMEOUT=2s found="pid \d+ \(python3\) listens on 127\.0\.0\.1:\d+ with a socket of its own"`,
		1, 20*time.Second)
	if m[1] != addr {
		t.Errorf("the line names %s, drover listens on %s", m[1], addr)
	}
	if code, _ := d.get("/readyz"); code != 503 {
		t.Errorf("/readyz %d while the worker never listened", code)
	}
	d.waitStatus("a startup-timeout restart", 10*time.Second, func(s statusDoc) bool { return s.Restarts["startup-timeout"] >= 1 })
	d.stop()
}

// Every worker binds drover's port itself and dies of "address already in
// use": /readyz never passes, in the default mode and in started mode,
// and one line (not one per restart) says what is likely wrong. In
// started mode the guarantee is for workers that die within 1s: that one
// is a Perl line, which does so even on a loaded machine (Python's start
// alone can take longer there).
func TestReadyCrashLoopOnTakenPort(t *testing.T) {
	const hint = `warning: worker exited within 1s of starting, before it listened on tcp://127\.0\.0\.1:\d+ \(fd 3\); if it bound the port itself \(address already in use\), make it use fd 3 / LISTEN_FDS; if a ` + "`sh -c`" + ` runs it without ` + "`exec`" + `, LISTEN_PID is the shell's pid; see docs/languages.md`
	for _, mode := range []string{"", "started"} {
		name := mode
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := []string{"DROVER_WORKERS=2", "READY_MODE=own-port", "DROVER_CRASH_LIMIT=0", "DROVER_BACKOFF_MAX=300ms"}
			if mode != "" {
				env = append(env, "DROVER_READY="+mode)
			}
			argv := []string{readyPython(t), testdata("ready/server.py")}
			if mode == "started" {
				argv = []string{program(t, "perl"), "-MSocket", "-e", `open(my $fd3, "+<&=3") or die "fd 3: $!\n";
socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
bind($s, getsockname($fd3)) or die "bind: $!\n";`}
			}
			d, _ := startReady(t, opts{env: env}, argv...)
			// Until both slots have failed six times, /readyz is asked
			// at every poll and must never pass.
			asked := 0
			eventually(t, 60*time.Second, "12 failed starts", func() (string, bool) {
				if code, body := d.get("/readyz"); code != 503 {
					t.Fatalf("/readyz %d %q while every worker crash-loops", code, body)
				}
				asked++
				n := d.count(`worker failed; restarting`)
				return fmt.Sprintf("%d failed starts, /readyz 503 %d times", n, asked), n >= 12
			})
			if n := d.count(hint); n != 1 {
				t.Errorf("%d hints about the taken port after %d failures, want 1", n, d.count(`worker failed`))
			}
			t.Logf("/readyz 503 on all %d asks during %d failed starts", asked, d.count(`worker failed`))
			d.stop()
		})
	}
}

// A shell that runs the server without exec: the hint names it precisely.
func TestReadyShellWithoutExecHint(t *testing.T) {
	script := readyPython(t) + " " + testdata("ready/server.py") + "; exit 1"
	d, _ := startReady(t, opts{env: []string{"DROVER_WORKERS=1", "READY_MODE=own-port", "DROVER_CRASH_LIMIT=0", "DROVER_BACKOFF_MAX=300ms"}},
		"sh", "-c", script)
	d.waitLog(`worker failed; restarting`, 4, 30*time.Second)
	const shellHint = `warning: worker exited within 1s of starting; it is a shell that did not exec the server, so LISTEN_PID is the shell's pid and servers that check it \(gunicorn, puma\) ignore tcp://127\.0\.0\.1:\d+ \(fd 3\): write ` + "`exec server …`" + ` in sh -c; see docs/languages.md`
	if n := d.count(shellHint); n != 1 {
		t.Errorf("%d shell hints, want 1", n)
	}
	d.stop()
}

// A worker running as another user is seen listening by a root drover
// without CAP_SYS_PTRACE (Docker's default capabilities), which reads the
// worker's /proc files with the worker's filesystem ids.
func TestReadyOtherUserWithoutPtrace(t *testing.T) {
	require(t, "root")
	setpriv := program(t, "setpriv")
	python := readyPython(t)
	script := publicCopy(t, testdata("ready/server.py"), "server.py", 0o644)
	for _, tc := range []struct {
		name string
		wrap []string
	}{
		{"all capabilities", nil},
		{"without CAP_SYS_PTRACE", []string{setpriv, "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", "--"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, url := startReady(t, opts{wrap: tc.wrap, env: []string{"DROVER_WORKERS=1", "DROVER_USER=65534:65534"}},
				python, script)
			if tc.wrap != nil && hasCap(t, d.pid, capSysPtrace) {
				t.Fatal("drover still has CAP_SYS_PTRACE: this proves nothing")
			}
			m := d.waitLog(listensRx, 1, 30*time.Second)
			if m[3] != "poll" {
				t.Errorf("seen by %s", m[3])
			}
			if d.count(`cannot tell whether workers listen`) != 0 {
				t.Error("drover could not read the worker's /proc files")
			}
			d.waitStatus("the worker ready", 5*time.Second, readyIs(1))
			getURL(t, url, "/")
			d.stop()
		})
	}
}
