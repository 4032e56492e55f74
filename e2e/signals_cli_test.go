package e2e

// The command line and the terminal, as tini and dumb-init test them.

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestSignalFlags is tini's and dumb-init's command line: -v runs the
// command with debug lines, --version prints the version, an unknown flag
// is a usage error of one line.
func TestSignalFlags(t *testing.T) {
	cmd := command(t, opts{}, "-v", "--", "true")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("drover -v -- true: %v", err)
	}
	if !strings.Contains(stderr.String(), "pool finished") {
		t.Errorf("drover -v -- true printed no debug line:\n%s", stderr.String())
	}
	quiet := command(t, opts{}, "--", "true")
	if out, err := quiet.CombinedOutput(); err != nil || strings.Contains(string(out), "pool finished") {
		t.Errorf("drover -- true: %v, debug lines without -v:\n%s", err, out)
	}

	out, err := command(t, opts{}, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "drover ") {
		t.Errorf("drover --version: %v %q", err, out)
	}

	bad := command(t, opts{}, "-x", "true")
	var stdout strings.Builder
	stderr.Reset()
	bad.Stdout, bad.Stderr = &stdout, &stderr
	if code := exitCode(bad.Run()); code != 2 {
		t.Errorf("drover -x true exited %d, want 2", code)
	}
	if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "-x") {
		t.Errorf("drover -x true: want one line naming -x, got %q", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("drover -x true wrote to stdout: %q", stdout.String())
	}
}

// openPTY opens a pseudo-terminal pair for the test.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	require(t, "pty")
	m, s, err := ptyPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		s.Close()
	})
	return m, s
}

// TestSignalTTYForeground is dumb-init's tty_test: on a terminal, the child
// (in a process group of its own) is the terminal's foreground group, so
// Ctrl-C, Ctrl-Z and a shell's job control work in `docker run -it`.
func TestSignalTTYForeground(t *testing.T) {
	for _, pidns := range []bool{false, true} {
		t.Run(fmt.Sprintf("pid1=%v", pidns), func(t *testing.T) {
			if pidns {
				require(t, "root")
			}
			_, slave := openPTY(t)
			cmd := command(t, opts{pidns: pidns}, "--", "cat", "/proc/self/stat")
			cmd.Stdin = slave
			// A new session whose controlling terminal is the pty, as a
			// container runtime's -t sets it up.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("drover: %v: %s", err, stderr.String())
			}
			s := string(out)
			i := strings.LastIndexByte(s, ')')
			if i < 0 {
				t.Fatalf("not a stat line: %q", s)
			}
			// After the command name: state ppid pgrp session tty_nr tpgid.
			f := strings.Fields(s[i+1:])
			pgrp, session, tpgid := f[2], f[3], f[5]
			if pgrp == session {
				t.Errorf("the child is in the session leader's process group %s", pgrp)
			}
			if tpgid != pgrp {
				t.Errorf("the terminal's foreground group is %s, the child's group %s", tpgid, pgrp)
			}
		})
	}
}
