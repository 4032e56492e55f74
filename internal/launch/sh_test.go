package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The shell fast path gives the program the same pid variables, argv,
// environment and descriptors as drover's own shim.
func TestShellShim(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	env := []string{"REC=" + dir, "PATH=/usr/bin:/bin"}
	x := &Exec{Path: "/bin/sh", Args: []string{"sh", "-c", `echo "$$ $LISTEN_PID $WATCHDOG_PID" > $REC/pids; ls /proc/self/fd | wc -l >> $REC/pids`},
		Shim: "/nonexistent/shim/not/used", Sh: "/bin/sh", PidVars: []string{"LISTEN_PID", "WATCHDOG_PID"}}
	p, err := x.Start(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitExecd(t, p)
	if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
		t.Fatalf("worker exited %v", ws)
	}
	f := strings.Fields(readFile(t, filepath.Join(dir, "pids")))
	if len(f) != 4 || f[0] != f[1] || f[0] != f[2] || f[0] != strconv.Itoa(p.Pid) {
		t.Errorf("worker pid, LISTEN_PID, WATCHDOG_PID = %q, want all %d", f, p.Pid)
	}
	if len(f) == 4 && f[3] != "4" {
		t.Errorf("worker has %s fds open, want 4 (stdio + ls's own): the exec-detection pipe leaked", f[3])
	}
	// The environment as a program that is not itself a shell sees it.
	out, err := os.Create(filepath.Join(dir, "env2"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	x = &Exec{Path: "/usr/bin/env", Args: []string{"env"}, Stdout: out,
		Shim: "/nonexistent/shim/not/used", Sh: "/bin/sh", PidVars: []string{"LISTEN_PID", "WATCHDOG_PID"}}
	if p, err = x.Start(env, nil); err != nil {
		t.Fatal(err)
	}
	waitExecd(t, p)
	if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
		t.Fatalf("env exited %v", ws)
	}
	got := map[string]bool{}
	for _, kv := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, "env2"))), "\n") {
		k, _, _ := strings.Cut(kv, "=")
		got[k] = true
	}
	for _, k := range []string{"REC", "PATH", "LISTEN_PID", "WATCHDOG_PID"} {
		if !got[k] {
			t.Errorf("%s missing from the program's environment", k)
		}
	}
	if got["PWD"] {
		t.Error("the shell added PWD, which drover's environment did not have")
	}
}

// The shell is used only where it passes everything on unchanged.
func TestShellShimSafe(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		ok, unPW bool
	}{
		{"plain", []string{"A=1", "B_2=x y"}, []string{"node", "server.js"}, true, true},
		{"argv0 is the path", []string{"A=1"}, []string{"/usr/bin/node"}, true, true},
		{"argv0 differs", []string{"A=1"}, []string{"-node"}, false, false},
		{"name with a dot", []string{"a.b=1"}, []string{"node"}, false, false},
		{"name with a dash", []string{"X-Y=1"}, []string{"node"}, false, false},
		{"name starting with a digit", []string{"1A=1"}, []string{"node"}, false, false},
		{"right PWD", []string{"PWD=" + wd}, []string{"node"}, true, false},
		{"wrong PWD", []string{"PWD=/somewhere/else"}, []string{"node"}, false, false},
		{"no args", nil, nil, false, false},
	} {
		ok, unPW := shSafe(tc.env, tc.args, "/usr/bin/node", []string{"LISTEN_PID"})
		if ok != tc.ok || (ok && unPW != tc.unPW) {
			t.Errorf("%s: shSafe = %v, %v; want %v, %v", tc.name, ok, unPW, tc.ok, tc.unPW)
		}
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/nonexistent/python\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, _ := shSafe(nil, []string{"script"}, script, nil); ok {
		t.Error("shell path taken for a script whose interpreter is missing: its error would not name it")
	}
	if ok, _ := shSafe(nil, []string{"sh"}, "/bin/sh", nil); !ok {
		t.Error("shell path refused for /bin/sh")
	}
	if got := shScript([]string{"LISTEN_PID"}, 5, true); got != `unset PWD; export LISTEN_PID=$$; exec "$0" "$@" 5>&-` {
		t.Errorf("script %q", got)
	}
}
