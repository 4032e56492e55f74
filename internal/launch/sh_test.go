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
	x := &Exec{Path: shSearch(env, "sh"), Args: []string{"sh", "-c", `echo "$$ $LISTEN_PID $WATCHDOG_PID" > $REC/pids; ls /proc/self/fd | wc -l >> $REC/pids`},
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
	x = &Exec{Path: shSearch(env, "env"), Args: []string{"env"}, Stdout: out,
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
	bin := t.TempDir()
	node := filepath.Join(bin, "node")
	if err := os.WriteFile(node, []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "node"), []byte("\x7fELF"), 0o755)
	noExec := t.TempDir()
	os.WriteFile(filepath.Join(noExec, "node"), []byte("\x7fELF"), 0o644)
	path := "PATH=" + bin
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		fd       int
		asUser   bool
		ok, unPW bool
	}{
		{"plain", []string{"A=1", "B_2=x y", path}, []string{"node", "server.js"}, 4, false, true, true},
		{"argv0 is the path", []string{"A=1"}, []string{node}, 4, false, true, true},
		{"argv0 is the path, as a user", []string{"A=1"}, []string{node}, 4, true, true, true},
		{"a bare name, as a user", []string{path}, []string{"node"}, 4, true, false, false},
		{"argv0 differs", []string{"A=1", path}, []string{"-node"}, 4, false, false, false},
		{"argv0 another name", []string{path}, []string{"nodejs"}, 4, false, false, false},
		{"argv0 relative", []string{path}, []string{"./node"}, 4, false, false, false},
		{"PATH finds another node first", []string{"PATH=" + other + ":" + bin}, []string{"node"}, 4, false, false, false},
		{"PATH skips a non-executable node", []string{"PATH=" + noExec + ":" + bin}, []string{"node"}, 4, false, true, true},
		{"the last PATH counts", []string{"PATH=" + other, path}, []string{"node"}, 4, false, true, true},
		{"no PATH", []string{"A=1"}, []string{"node"}, 4, false, false, false},
		{"PATH with the current directory", []string{path + "::/bin"}, []string{"node"}, 4, false, false, false},
		{"PATH with a relative entry", []string{"PATH=bin:" + bin}, []string{"node"}, 4, false, false, false},
		{"PATH with dash's %", []string{path + ":/x%builtin"}, []string{"node"}, 4, false, false, false},
		{"name with a dot", []string{"a.b=1", path}, []string{"node"}, 4, false, false, false},
		{"name with a dash", []string{"X-Y=1", path}, []string{"node"}, 4, false, false, false},
		{"name starting with a digit", []string{"1A=1", path}, []string{"node"}, 4, false, false, false},
		{"right PWD", []string{"PWD=" + wd, path}, []string{"node"}, 4, false, true, false},
		{"wrong PWD", []string{"PWD=/somewhere/else", path}, []string{"node"}, 4, false, false, false},
		{"no args", []string{path}, nil, 4, false, false, false},
		{"empty argv0", []string{path}, []string{""}, 4, false, false, false},
		{"pipe at fd 9", []string{path}, []string{"node"}, 9, false, true, true},
		{"pipe at fd 10: dash cannot name it", []string{path}, []string{"node"}, 10, false, false, false},
	} {
		ok, unPW := shSafe(tc.env, tc.args, node, []string{"LISTEN_PID"}, tc.fd, tc.asUser)
		if ok != tc.ok || (ok && unPW != tc.unPW) {
			t.Errorf("%s: shSafe = %v, %v; want %v, %v", tc.name, ok, unPW, tc.ok, tc.unPW)
		}
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/nonexistent/python\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, _ := shSafe(nil, []string{script}, script, nil, 3, false); ok {
		t.Error("shell path taken for a script whose interpreter is missing: its error would not name it")
	}
	crlf := filepath.Join(dir, "crlf")
	os.WriteFile(crlf, []byte("#!/bin/sh\r\n"), 0o755)
	if ok, _ := shSafe(nil, []string{crlf}, crlf, nil, 3, false); ok {
		t.Error("shell path taken for a CRLF script: its error would not say why")
	}
	if ok, _ := shSafe([]string{"PATH=/usr/bin:/bin"}, []string{"sh"}, "/usr/bin/sh", nil, 3, false); !ok {
		t.Error("shell path refused for sh")
	}
	if got := shScript([]string{"LISTEN_PID"}, 5, true); got != `unset PWD; export LISTEN_PID=$$; exec "$0" "$@" 5>&-` {
		t.Errorf("script %q", got)
	}
}
