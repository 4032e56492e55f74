package e2e

// Issue 10, items 5, 6, 7 and 10: hostile values and commands get one line
// that names what to fix, and an empty value is the same as unset.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// runOneLine runs drover and returns its exit code and its output, which must
// be exactly one line.
func runOneLine(t *testing.T, o opts, args ...string) (int, string) {
	t.Helper()
	out, err := command(t, o, args...).CombinedOutput()
	line := strings.TrimSpace(string(out))
	if strings.Contains(line, "\n") {
		t.Errorf("%v %v: want one line, got:\n%s", o.env, args, out)
	}
	return exitCode(err), line
}

// A script whose interpreter is missing exists: 127 naming the
// interpreter, not "no such file" for the script; a file without x: 126.
func TestHostileMissingInterpreter(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "app.py")
	if err := os.WriteFile(script, []byte("#!/nonexistent/python\nprint('hi')\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "data.sh")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, line := runOneLine(t, opts{}, script)
	if code != 127 || !strings.Contains(line, "interpreter /nonexistent/python not found") {
		t.Errorf("missing interpreter: exit %d %q, want 127 naming /nonexistent/python", code, line)
	}
	code, line = runOneLine(t, opts{}, plain)
	if code != 126 || !strings.Contains(line, plain) || !strings.Contains(line, "permission denied") {
		t.Errorf("non-executable file: exit %d %q, want 126 naming the file", code, line)
	}
	// A pool says the same, through the exec shim when DROVER_LISTEN needs it.
	for _, env := range [][]string{
		{"DROVER_WORKERS=2", "DROVER_CRASH_LIMIT=1"},
		{"DROVER_WORKERS=2", "DROVER_CRASH_LIMIT=1", "DROVER_LISTEN=127.0.0.1:0"},
	} {
		out, err := command(t, opts{env: env}, script).CombinedOutput()
		if code := exitCode(err); code != 127 || !strings.Contains(string(out), "interpreter /nonexistent/python not found") {
			t.Errorf("pool %v: exit %d, want 127 naming the interpreter:\n%s", env, code, out)
		}
		if strings.Contains(string(out), "exit 126") || strings.Contains(string(out), "no such file") {
			t.Errorf("pool %v: misreported:\n%s", env, out)
		}
	}
}

// Signals that do not end a process are refused as stop signals: with
// them every stop would wait the full timeout and SIGKILL.
func TestHostileStopSignalMustEnd(t *testing.T) {
	for _, sig := range []string{"SIGSTOP", "SIGCHLD", "SIGCONT", "STOP", "19", "TSTP", "WINCH", "URG", "SIGTTIN"} {
		code, line := runOneLine(t, opts{env: []string{"DROVER_STOP_SIGNAL=" + sig, "DROVER_WORKERS=1"}}, "true")
		if code != 2 || !strings.HasPrefix(line, `drover: DROVER_STOP_SIGNAL="`+sig+`"`) {
			t.Errorf("DROVER_STOP_SIGNAL=%s: exit %d %q, want 2 naming the variable", sig, code, line)
		}
	}
	for _, sig := range []string{"SIGTERM", "INT", "SIGQUIT", "9", "SIGUSR1"} {
		if code, line := runOneLine(t, opts{env: []string{"DROVER_STOP_SIGNAL=" + sig}}, "true"); code != 0 {
			t.Errorf("DROVER_STOP_SIGNAL=%s: exit %d %q, want 0", sig, code, line)
		}
	}
}

// helpVars are the variables `drover --help` lists.
func helpVars(t *testing.T) []string {
	t.Helper()
	out, err := command(t, opts{}, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(DROVER_\w+) \(default: `).FindAllSubmatch(out, -1) {
		vars = append(vars, string(m[1]))
	}
	if len(vars) < 20 {
		t.Fatalf("--help lists only %d variables:\n%s", len(vars), out)
	}
	return vars
}

// NAME= is NAME unset, for every variable, alone and all at once:
// templated manifests produce empty values all the time.
func TestHostileEmptyIsUnset(t *testing.T) {
	vars := helpVars(t)
	var all []string
	for _, v := range vars {
		all = append(all, v+"=")
	}
	runs := [][]string{all}
	for _, v := range vars {
		runs = append(runs, []string{v + "="})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var mu sync.Mutex
	var wrong []string
	for _, env := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := command(t, opts{env: env}, "true").CombinedOutput()
			if code := exitCode(err); code != 0 || len(out) != 0 {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("%s: exit %d %q", strings.Join(env, " "), code, out))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, w := range wrong {
		t.Errorf("empty is not unset: %s", w)
	}
}

// Errors show the value as typed, not Go's reformatting of it.
func TestHostileErrorsEchoTheValue(t *testing.T) {
	for _, env := range []string{
		"DROVER_STOP_TIMEOUT=-60s",
		"DROVER_STARTUP_TIMEOUT=-3600s",
		"DROVER_BACKOFF_MAX=0.05s",
		"DROVER_WATCHDOG=-0.5s",
		"DROVER_CPU_RECHECK=-90s",
		"DROVER_DRAIN_DELAY=-1m",
	} {
		name, value, _ := strings.Cut(env, "=")
		code, line := runOneLine(t, opts{env: []string{env}}, "true")
		if code != 2 || !strings.HasPrefix(line, fmt.Sprintf("drover: %s=%q ", name, value)) {
			t.Errorf("%s: exit %d %q, want 2 echoing %q", env, code, line, value)
		}
	}
}

// drover status with the health server off says so in one line.
func TestHostileStatusWithHealthOff(t *testing.T) {
	code, line := runOneLine(t, opts{}, "status")
	if code == 0 || line != "drover: the health server is off (DROVER_HEALTH_ADDR=off); drover status needs it" {
		t.Errorf("drover status with DROVER_HEALTH_ADDR=off: exit %d %q", code, line)
	}
}

// A health address that is one of drover's own listening sockets is named
// as such, not blamed on "another process".
func TestHostileHealthAddrIsListenAddr(t *testing.T) {
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct{ listen, health string }{
		{addr, addr},
		{":" + port, ":" + port},
		{":" + port, addr},
		{addr, ":" + port},
	} {
		out, err := command(t, opts{env: []string{"DROVER_LISTEN=" + tc.listen, "DROVER_HEALTH_ADDR=" + tc.health}}, "true").CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		last := lines[len(lines)-1]
		want := fmt.Sprintf("drover: DROVER_HEALTH_ADDR=%q is the same address as DROVER_LISTEN", tc.health)
		if code := exitCode(err); code != 2 || !strings.HasPrefix(last, want) {
			t.Errorf("listen %s, health %s: exit %d, last line %q; want 2 and %q", tc.listen, tc.health, code, last, want)
		}
		if strings.Contains(string(out), "another process") || strings.Contains(string(out), "worker started") {
			t.Errorf("listen %s, health %s:\n%s", tc.listen, tc.health, out)
		}
	}
}

// Absurd counts are refused whatever the container allows: drover's own
// cap is 4096 workers.
func TestHostileAbsurdCounts(t *testing.T) {
	for _, env := range []string{
		"DROVER_WORKERS=100000",
		"DROVER_WORKERS=4097",
		"DROVER_WORKERS_PER_CPU=100000",
		"DROVER_WORKERS_MAX=99999999999999999999",
		"DROVER_WORKERS_MIN=5000",
	} {
		name, value, _ := strings.Cut(env, "=")
		code, line := runOneLine(t, opts{env: []string{env}}, "true")
		if code != 2 || !strings.HasPrefix(line, fmt.Sprintf("drover: %s=%q ", name, value)) {
			t.Errorf("%s: exit %d %q, want 2 naming the variable", env, code, line)
		}
	}
}
