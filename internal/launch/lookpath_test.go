package launch

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The command is looked up along the environment's PATH, or execvp's
// default when there is none, as tini finds it.
func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	prog := filepath.Join(bin, "prog")
	os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "data"), nil, 0o644)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		env  []string
		want string
		code int
		err  error
	}{
		{"prog", []string{"PATH=/nonexistent:" + bin}, prog, 0, nil},
		{"prog", []string{"PATH=" + bin, "PATH=/nonexistent"}, prog, 0, nil}, // the first, as getenv
		{"sleep", nil, "/bin/sleep", 0, nil},                                 // PATH unset: /bin:/usr/bin
		{"sleep", []string{"PATH="}, "", 127, exec.ErrNotFound},              // empty: nothing
		{"prog", nil, "", 127, exec.ErrNotFound},
		{"data", []string{"PATH=" + bin}, "", 127, exec.ErrNotFound}, // not executable: skipped
		{"prog", []string{"PATH=bin"}, "", 126, exec.ErrDot},
		{"prog", []string{"PATH=:/nonexistent"}, "", 127, exec.ErrNotFound},
		{"./bin/prog", nil, "./bin/prog", 0, nil},
		{"bin/data", nil, "", 126, nil},
		{"bin/none", nil, "", 127, os.ErrNotExist},
	} {
		got, err := LookPath(c.file, c.env)
		var e *Error
		switch {
		case c.code == 0 && (err != nil || got != c.want):
			t.Errorf("LookPath(%q, %q) = %q, %v; want %q", c.file, c.env, got, err, c.want)
		case c.code != 0 && (!errors.As(err, &e) || e.ExitCode() != c.code || (c.err != nil && !errors.Is(err, c.err))):
			t.Errorf("LookPath(%q, %q) = %q, %v; want code %d, %v", c.file, c.env, got, err, c.code, c.err)
		}
	}
}
