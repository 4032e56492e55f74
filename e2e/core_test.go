package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Every exit code passes through in plain-init (restart never) mode, as PID 1.
func TestExitCodesPassThrough(t *testing.T) {
	require(t, "root")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	var wrong []string
	for code := 0; code <= 255; code++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmd := command(t, opts{pidns: true}, "sh", "-c", "exit "+strconv.Itoa(code))
			if got := exitCode(cmd.Run()); got != code {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("exit %d gave %d", code, got))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("statuses lost or changed: %v", wrong)
	}
}

// A worker killed by signal n makes drover exit 128+n, like a shell.
func TestDeathBySignalGives128PlusN(t *testing.T) {
	require(t, "root")
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGABRT,
		syscall.SIGKILL, syscall.SIGUSR1, syscall.SIGSEGV, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTERM} {
		cmd := command(t, opts{pidns: true}, "sh", "-c", fmt.Sprintf("kill -%d $$", int(sig)))
		if got, want := exitCode(cmd.Run()), 128+int(sig); got != want {
			t.Errorf("worker killed by %v: drover exited %d, want %d", sig, got, want)
		}
	}
}

func TestMissingCommand127NotExecutable126(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		args []string
		env  []string
		code int
		msg  string
	}{
		{[]string{"no-such-command-xyz"}, nil, 127, "no-such-command-xyz: command not found"},
		{[]string{"/nonexistent/cmd"}, nil, 127, "command not found"},
		{[]string{notExec}, nil, 126, "cannot be executed"},
		{[]string{"/tmp"}, nil, 126, "cannot be executed"},
		{[]string{"no-such-command-xyz"}, []string{"DROVER_WORKERS=2"}, 127, "command not found"},
	} {
		cmd := command(t, opts{env: tc.env}, tc.args...)
		out, err := cmd.CombinedOutput()
		if got := exitCode(err); got != tc.code || !strings.Contains(string(out), tc.msg) {
			t.Errorf("drover %v: exit %d, output %q; want %d and %q", tc.args, got, out, tc.code, tc.msg)
		}
		if n := strings.Count(strings.TrimSpace(string(out)), "\n"); n != 0 {
			t.Errorf("drover %v: want one line, got %q", tc.args, out)
		}
	}
}

// 1,000 orphaned grandchildren are all reaped by drover as PID 1, and no
// zombie is left in the namespace.
func TestOrphansReapedAsPID1(t *testing.T) {
	const n = 1000
	p := start(t, opts{pidns: true, env: []string{"N=" + strconv.Itoa(n), "DROVER_LOG_LEVEL=debug", "DROVER_WORKERS=1"}},
		"sh", testdata("orphans.sh"))
	p.waitLog(`reaped orphan`, n, 60*time.Second)
	if z := zombies(p.pid); len(z) > 0 {
		t.Errorf("zombies left in the namespace: %v", z)
	}
	p.stop()
	if got := p.count(`reaped orphan`); got != n {
		t.Errorf("reaped %d orphans, want %d", got, n)
	}
}

// Not PID 1: drover makes itself a child subreaper and still reaps orphans.
func TestSubreaperReapsOrphansWhenNotPID1(t *testing.T) {
	const n = 20
	p := start(t, opts{env: []string{"N=" + strconv.Itoa(n), "DROVER_LOG_LEVEL=debug", "DROVER_WORKERS=1"}},
		"sh", testdata("orphans.sh"))
	p.waitLog(`reaped orphan`, n, 30*time.Second)
	if z := zombies(p.pid); len(z) > 0 {
		t.Errorf("zombies left under drover: %v", z)
	}
	p.stop()
}

// SIGTERM reaches every worker, and drover exits 0 when they all stop in time.
func TestTermReachesEveryWorker(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec, "DROVER_WORKERS=3"}}, "sh", testdata("record.sh"))
	files := waitRecords(t, rec, 3)
	p.stop()
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), "TERM") {
			t.Errorf("%s did not get SIGTERM: %q", f, b)
		}
	}
}

// A worker that ignores SIGTERM is killed after DROVER_STOP_TIMEOUT: exit 137.
func TestIgnoredTermIsKilledAfterTimeout(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec, "IGNORE_TERM=1", "DROVER_WORKERS=2", "DROVER_STOP_TIMEOUT=300ms"}},
		"sh", testdata("record.sh"))
	waitRecords(t, rec, 2)
	t0 := time.Now()
	p.stopWith(syscall.SIGTERM, 137)
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("killed after %s, before the 300ms stop timeout", d)
	}
	p.waitLog(`did not stop in time; killing it`, 2, time.Second)
}

// The stop signal goes to the worker's process group: its own child gets it.
func TestStopSignalReachesWorkersChild(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec, "DROVER_WORKERS=1", "DROVER_STOP_TIMEOUT=5s"}},
		"sh", testdata("group.sh"))
	waitFile(t, filepath.Join(rec, "child"), "ready", 10*time.Second)
	p.stop()
	waitFile(t, filepath.Join(rec, "child"), "TERM", time.Second)
}

// kill -9 of a worker: it comes back in the same slot, with the same
// DROVER_WORKER_ID, and the others are left alone.
func TestKilledWorkerRestartsWithSameID(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec, "DROVER_WORKERS=3"}}, "sh", testdata("record.sh"))
	waitRecords(t, rec, 3)
	p.waitLog(`worker started`, 3, 10*time.Second) // drover's log may come after the workers' own writes
	victim := p.hostPid(p.workerPids()[1][0])
	syscall.Kill(victim, syscall.SIGKILL)
	p.waitLog(`worker started worker=1 `, 2, 10*time.Second)
	recs := waitRecords(t, rec, 4)
	ids := map[string]int{}
	for _, f := range recs {
		ids[strings.SplitN(filepath.Base(f), ".", 2)[0]]++
	}
	if ids["0"] != 1 || ids["1"] != 2 || ids["2"] != 1 {
		t.Errorf("starts per DROVER_WORKER_ID = %v, want 0:1 1:2 2:1", ids)
	}
	p.stop()
}

// A command that always fails is restarted at once the first time, then
// with doubling delays, and drover gives up after DROVER_CRASH_LIMIT
// failures and exits with its status.
func TestCrashLimitAndBackoff(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	p := start(t, opts{pidns: true, env: []string{"DROVER_WORKERS=1", "DROVER_CRASH_LIMIT=4"}},
		"sh", "-c", "date +%s%N >> "+starts+"; exit 3")
	if code := p.wait(20 * time.Second); code != 3 {
		t.Fatalf("exit %d, want the worker's 3", code)
	}
	b, _ := os.ReadFile(starts)
	var ts []int64
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.ParseInt(f, 10, 64)
		ts = append(ts, n)
	}
	if len(ts) != 4 {
		t.Fatalf("%d starts, want 4 (crash limit)", len(ts))
	}
	for i, want := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond} {
		gap := time.Duration(ts[i+1] - ts[i])
		if gap < want-20*time.Millisecond || gap > 4*want+50*time.Millisecond {
			t.Errorf("restart %d came after %s, want about %s", i+1, gap, want)
		}
	}
}

// QUIT, USR1, USR2 and WINCH reach every worker; SIGURG never does.
func TestSignalsForwardedToEveryWorker(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec, "DROVER_WORKERS=2"}}, "sh", testdata("record.sh"))
	files := waitRecords(t, rec, 2)
	p.signal(syscall.SIGURG)
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH} {
		p.signal(sig)
		name := map[syscall.Signal]string{syscall.SIGQUIT: "QUIT", syscall.SIGUSR1: "USR1", syscall.SIGUSR2: "USR2", syscall.SIGWINCH: "WINCH"}[sig]
		for _, f := range files {
			waitFile(t, f, name, 5*time.Second)
		}
	}
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "URG") {
			t.Errorf("SIGURG was forwarded to %s", f)
		}
	}
}

// In plain-init mode SIGHUP is forwarded (there is no pool to reload).
func TestPlainInitForwardsHUP(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec}}, "sh", testdata("record.sh"))
	files := waitRecords(t, rec, 1)
	p.signal(syscall.SIGHUP)
	waitFile(t, files[0], "HUP", 5*time.Second)
	p.stop()
}

// TTIN adds a worker, TTOU removes the highest one.
func TestTTINAndTTOUResizeThePool(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec, "DROVER_WORKERS=2"}}, "sh", testdata("record.sh"))
	waitRecords(t, rec, 2)
	p.signal(syscall.SIGTTIN)
	p.waitLog(`worker started worker=2 `, 1, 5*time.Second)
	waitRecords(t, rec, 3)
	// Standard signals do not queue: send the second once the first is seen.
	p.signal(syscall.SIGTTOU)
	p.waitLog(`removing a worker workers=2`, 1, 5*time.Second)
	p.signal(syscall.SIGTTOU)
	p.waitLog(`removing a worker workers=1`, 1, 5*time.Second)
	for _, id := range []string{"1", "2"} {
		m, _ := filepath.Glob(filepath.Join(rec, id+".*"))
		waitFile(t, m[0], "TERM", 5*time.Second)
	}
	p.stop()
}

// SIGHUP replaces every worker, one slot at a time.
func TestHUPReloadsEveryWorker(t *testing.T) {
	rec := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{"REC=" + rec, "DROVER_WORKERS=2"}}, "sh", testdata("record.sh"))
	old := waitRecords(t, rec, 2)
	p.signal(syscall.SIGHUP)
	p.waitLog(`reload complete`, 1, 10*time.Second)
	waitRecords(t, rec, 4)
	for _, f := range old {
		waitFile(t, f, "TERM", 5*time.Second)
	}
	if p.count(`worker started worker=0 `) != 2 || p.count(`worker started worker=1 `) != 2 {
		t.Errorf("want each slot started twice:\n%s", strings.Join(p.lines(), "\n"))
	}
}

// Bad values exit 2 with one line naming the variable, value and what fits.
func TestBadConfigExits2WithOneLine(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"DROVER_WORKERS=abc", `DROVER_WORKERS="abc" is not valid; accepted: auto, or a whole number`},
		{"DROVER_WORKERS=0", `DROVER_WORKERS="0"`},
		{"DROVER_STOP_TIMEOUT=ten", `DROVER_STOP_TIMEOUT="ten" is not valid; accepted: a duration`},
		{"DROVER_RESTART=sometimes", `DROVER_RESTART="sometimes" is not valid; accepted: always, on-failure or never`},
		{"DROVER_STOP_SIGNAL=SIGFOO", `DROVER_STOP_SIGNAL="SIGFOO"`},
		{"DROVER_REUSEPORT=maybe", `DROVER_REUSEPORT="maybe"`},
		{"DROVER_WORKER_MEMORY=lots", `DROVER_WORKER_MEMORY="lots"`},
		{"DROVER_CRASH_LIMIT=-1", `DROVER_CRASH_LIMIT="-1"`},
		{"DROVER_USER=nobody-such-user", `DROVER_USER="nobody-such-user"`},
		{"DROVER_WORKER=3", `DROVER_WORKER="3": no such variable; did you mean DROVER_WORKERS?`},
		{"DROVER_LOG_FORMAT=xml", `DROVER_LOG_FORMAT="xml"`},
	} {
		cmd := command(t, opts{env: []string{tc.env}}, "true")
		out, err := cmd.CombinedOutput()
		if code := exitCode(err); code != 2 {
			t.Errorf("%s: exit %d, want 2", tc.env, code)
		}
		line := strings.TrimSpace(string(out))
		if strings.Contains(line, "\n") || !strings.Contains(line, tc.want) || !strings.HasPrefix(line, "drover: ") {
			t.Errorf("%s: got %q, want one line containing %q", tc.env, line, tc.want)
		}
	}
}

// --help lists every variable drover reads, with its default.
func TestHelpListsEveryVariable(t *testing.T) {
	out, err := command(t, opts{}, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The README's table is checked against drover's configuration by the
	// root package's unit test; --help must agree with the table both ways.
	helped := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(DROVER_\w+) \(default: `).FindAllSubmatch(out, -1) {
		helped[string(m[1])] = true
	}
	for _, key := range readmeVars(t) {
		if !helped[key] {
			t.Errorf("--help does not list %s", key)
		}
		delete(helped, key)
	}
	for key := range helped {
		t.Errorf("--help lists %s, which README.md does not", key)
	}
	if v, _ := command(t, opts{}, "--version").Output(); !strings.HasPrefix(string(v), "drover ") {
		t.Errorf("--version printed %q", v)
	}
}

// waitRecords waits until record.sh has written at least n files.
func waitRecords(t *testing.T, dir string, n int) []string {
	t.Helper()
	return eventually(t, 10*time.Second, fmt.Sprintf("%d workers to record their start", n), func() ([]string, bool) {
		m, _ := filepath.Glob(filepath.Join(dir, "*.*"))
		var started []string
		for _, f := range m {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "start") {
				started = append(started, f)
			}
		}
		return started, len(started) >= n
	})
}
