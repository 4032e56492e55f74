package sockwait

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// A worker running as another user, checked by a root drover without
// CAP_SYS_PTRACE (Docker's default capabilities): with its own
// credentials the checker is refused, with the worker's fs ids it sees
// the worker listen.
func TestRealOtherUserWithoutPtrace(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	python := pythonPath(t)
	setpriv := need(t, "setpriv")
	f, sock := listenSocket(t)
	// nobody must be able to read the script.
	dir, err := os.MkdirTemp("", "sockwait-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("testdata/server.py")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/server.py", script, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, f, &syscall.Credential{Uid: 65534, Gid: 65534}, python, dir+"/server.py", "select")
	s.line(t)
	io.WriteString(s.in, "go\n")
	waitListening(t, checker(t), s.cmd.Process.Pid, []Socket{sock}) // with all capabilities

	run := func(noSwitch bool) map[string]string {
		t.Helper()
		cmd := exec.Command(setpriv, "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", "--", os.Args[0])
		cmd.Env = append(os.Environ(), "SOCKWAIT_HELPER=check",
			"SOCKWAIT_PID="+strconv.Itoa(s.cmd.Process.Pid), "SOCKWAIT_INO="+strconv.FormatUint(sock.Ino, 10))
		if noSwitch {
			cmd.Env = append(cmd.Env, "SOCKWAIT_NOSWITCH=1")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Logf("checker without CAP_SYS_PTRACE (noswitch=%v): %s", noSwitch, out)
		return fields(string(out))
	}
	if got := run(true); got["listening"] != "false" || got["perm"] != "true" {
		t.Errorf("with root's own credentials: %v; want a permission error (else this test proves nothing)", got)
	}
	if got := run(false); got["switch"] != "true" || got["listening"] != "true" || got["how"] != "select" {
		t.Errorf("with the worker's fs credentials: %v", got)
	}
}
