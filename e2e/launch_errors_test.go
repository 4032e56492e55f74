package e2e

// Issue 17, smaller cases: a CRLF #! line is named as such; with PATH
// unset the command is found where execvp (and so tini) finds it.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A script saved with Windows line endings names "/bin/sh\r" and says how
// to fix it, on a direct start and through the exec shim, exit 127.
func TestCRLFShebangIsNamed(t *testing.T) {
	script := filepath.Join(t.TempDir(), "crlf.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\r\necho hi\r\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string][]string{
		"direct": nil,
		"shim":   {"DROVER_LISTEN=127.0.0.1:0", "DROVER_WORKERS=1", "DROVER_CRASH_LIMIT=1"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := command(t, opts{env: env}, script).CombinedOutput()
			if code := exitCode(err); code != 127 {
				t.Errorf("exit %d, want 127\n%s", code, out)
			}
			if !strings.Contains(string(out), `(the #! line ends in CRLF: convert the script to Unix line endings)`) ||
				!strings.Contains(string(out), `/bin/sh\`) || strings.Contains(string(out), "\r") {
				t.Errorf("want the interpreter named with its \\r escaped and the CRLF hint:\n%s", out)
			}
		})
	}
}

// With PATH unset, `sleep` is found in /bin:/usr/bin as tini finds it, and
// the worker's environment is passed on as it was, without a PATH; a
// command that is not there says where drover looked.
func TestPathUnsetFallsBackLikeExecvp(t *testing.T) {
	out, err := command(t, opts{wrap: []string{"env", "-u", "PATH"}}, "env").CombinedOutput()
	if code := exitCode(err); code != 0 {
		t.Fatalf("env with PATH unset: exit %d\n%s", code, out)
	}
	if strings.Contains("\n"+string(out), "\nPATH=") {
		t.Errorf("drover gave the worker a PATH:\n%s", out)
	}
	out, err = command(t, opts{wrap: []string{"env", "-u", "PATH"}}, "sleep", "0").CombinedOutput()
	if code := exitCode(err); code != 0 || len(out) != 0 {
		t.Errorf("sleep 0 with PATH unset: exit %d %q, want 0 and silence", code, out)
	}
	out, err = command(t, opts{wrap: []string{"env", "-u", "PATH"}}, "no-such-command").CombinedOutput()
	want := "drover: no-such-command: command not found (PATH is unset: looked in /bin:/usr/bin)\n"
	if code := exitCode(err); code != 127 || string(out) != want {
		t.Errorf("exit %d %q, want 127 %q", code, out, want)
	}
}
