package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// openDir is a temporary directory other users may enter (t.TempDir's
// parent is 0700).
func openDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d, err := os.MkdirTemp("", "launch-cred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

// copyBinary copies the test binary to dir with mode.
func copyBinary(t *testing.T, dir string, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(self(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "drover")
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// With a user set, the shim is started as drover (root) and drops to the
// worker's credentials itself, so a drover binary only root may execute
// (mode 0700) still starts workers as nobody.
func TestShimDropsCredentials(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	shim := copyBinary(t, t.TempDir(), 0o700)
	out := openDir(t, 0o777)
	for _, c := range []struct {
		name string
		cred *syscall.Credential
		want string
	}{
		{"groups", &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65533}}, "65534 65534 65534 65533"},
		{"no groups", &syscall.Credential{Uid: 65534, Gid: 65534}, "65534 65534 65534"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := filepath.Join(out, strings.ReplaceAll(c.name, " ", "_"))
			x := &Exec{Path: "/bin/sh", Args: []string{"sh", "-c", `echo $(id -u) $(id -g) $(id -G) > ` + rec},
				Shim: shim, PidVars: []string{"LISTEN_PID"}, Credential: c.cred}
			p, err := x.Start([]string{"PATH=/usr/bin:/bin"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			waitExecd(t, p)
			if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
				t.Fatalf("worker exited %v", ws)
			}
			if got := strings.TrimSpace(readFile(t, rec)); got != c.want {
				t.Errorf("worker ran as %q, want %q", got, c.want)
			}
		})
	}
	// Dropped, then the exec fails: the message is about the program, not
	// about a second attempt to drop (which nobody could not do).
	stderr := stderrFile(t)
	os.Chmod(stderr.Name(), 0o666)
	x := &Exec{Path: "/nonexistent/prog", Args: []string{"prog"}, Shim: shim, Stderr: stderr,
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	p, err := x.Start(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ws := waitExit(t, p.Pid); ws.ExitStatus() != 127 {
		t.Errorf("shim exited %d, want 127", ws.ExitStatus())
	}
	if got := readFile(t, stderr.Name()); got != "drover: cannot run /nonexistent/prog: no such file or directory\n" {
		t.Errorf("shim wrote %q", got)
	}
	// The old way, the kernel refusing to exec drover as nobody, is what
	// the shim's own drop avoids.
	cmd := exec.Command(shim)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Run(); err == nil || !os.IsPermission(err) {
		t.Errorf("exec of the 0700 binary as nobody: %v, want permission denied (else this test proves nothing)", err)
	}
}

// A shim that cannot drop to the worker's credentials exits 126 with one
// line and never runs the program. Here the shim already runs as nobody
// and is asked for another user, which only root may become.
func TestShimRefusesWhenDropFails(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	shim := copyBinary(t, openDir(t, 0o755), 0o755)
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := exec.Command(shim)
	cmd.Env = []string{"_DROVER_SHIM_EXEC=/usr/bin/touch", "_DROVER_SHIM_CRED=1234:1234:", "PATH=/usr/bin:/bin"}
	cmd.Args = []string{"touch", marker}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 126 {
		t.Fatalf("shim: %v, want exit 126\n%s", err, out)
	}
	want := "drover: cannot run /usr/bin/touch: cannot set the supplementary groups of uid 1234 gid 1234: operation not permitted\n"
	if string(out) != want {
		t.Errorf("shim wrote %q, want %q", out, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the program ran although the credentials could not be set")
	}
}
