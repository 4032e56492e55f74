package e2e

// Issue 17, item 7: log injection. Whatever drover echoes from its input
// (a value, a variable's name, a path, a command name) reaches stderr with
// every control character escaped: a newline cannot forge a line of
// drover's, ESC and CR cannot drive the terminal of whoever reads the log,
// in the text form and in JSON.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// rawControls fails on any control character, DEL, C1 control or invalid
// UTF-8 in drover's output; newlines only end lines.
func rawControls(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("invalid UTF-8 reached stderr: %q", out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		for _, r := range line {
			if !unicode.IsPrint(r) {
				t.Errorf("%U reached stderr raw: %q", r, line)
				break
			}
		}
	}
}

// The value: a DROVER_CPU_FILE holding a newline, a fake drover
// error and a colour escape, warned about while the pool runs.
func TestLogInjectionCPUFile(t *testing.T) {
	t.Parallel()
	const file = "/x\ndrover: error: FAKE \x1b[31mRED"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			d := start(t, opts{env: []string{"DROVER_WORKERS=auto", "DROVER_CPU_FILE=" + file, "DROVER_LOG_FORMAT=" + format}},
				"--", "sleep", "1000")
			d.waitLog(`worker started|"worker started"`, 1, 10*time.Second)
			d.stop()
			d.settleLog()
			out := strings.Join(d.lines(), "\n")
			rawControls(t, out)
			if n := d.count(`^drover: error: FAKE`); n != 0 {
				t.Errorf("%d forged lines", n)
			}
			if format == "text" {
				want := `drover: warning: cpu budget: ignoring DROVER_CPU_FILE /x\ndrover: error: FAKE \x1b[31mRED: `
				if !strings.Contains(out, want) {
					t.Errorf("no line with %q:\n%s", want, out)
				}
				return
			}
			found := false
			for _, l := range d.lines() {
				var rec map[string]any
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Errorf("not JSON: %q", l)
					continue
				}
				msg, _ := rec["msg"].(string)
				found = found || strings.Contains(msg, "ignoring DROVER_CPU_FILE "+file+":")
			}
			if !found {
				t.Errorf("no JSON line whose msg names the file as it is:\n%s", out)
			}
		})
	}
}

// A command name with CR and "erase line", refused at start (not found, and
// found but not executable), and a program whose #! names an interpreter
// with an escape in it, which only fails once the pool starts it.
func TestLogInjectionCommandName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := "foo\r\x1b[2K"
	notExec := filepath.Join(dir, name)
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badInterp := filepath.Join(dir, "bad-interp")
	if err := os.WriteFile(badInterp, []byte("#!/nonexistent/\x1b[31msh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{nil, []string{"--", name}, 127, `drover: foo\r\x1b[2K: command not found (check the name and PATH)`},
		{[]string{"DROVER_WORKERS=2"}, []string{"--", name}, 127, `drover: foo\r\x1b[2K: command not found (check the name and PATH)`},
		{nil, []string{"--", notExec}, 126, `drover: ` + dir + `/foo\r\x1b[2K: command cannot be executed: permission denied`},
		{nil, []string{"-\x1b[31mx"}, 2, `drover: unknown option -\x1b[31mx (drover --help lists the options`},
	} {
		out, err := command(t, opts{env: tc.env}, tc.args...).CombinedOutput()
		if code := exitCode(err); code != tc.code {
			t.Errorf("%q: exit %d, want %d; %q", tc.args, code, tc.code, out)
		}
		rawControls(t, string(out))
		if !strings.HasPrefix(string(out), tc.want) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("%q: %q, want one line starting %q", tc.args, out, tc.want)
		}
	}

	// Found and executable, failing only in the pool: drover's own line
	// about it is escaped (the worker's own output is the worker's).
	d := start(t, opts{env: []string{"DROVER_WORKERS=1", "DROVER_CRASH_LIMIT=1"}}, "--", badInterp)
	if code := d.wait(15 * time.Second); code != 127 {
		t.Errorf("exit %d, want 127", code)
	}
	d.settleLog()
	var drovers []string
	for _, l := range d.lines() {
		if strings.HasPrefix(l, "drover: ") && strings.Contains(l, "nonexistent") {
			drovers = append(drovers, l)
		}
	}
	if len(drovers) == 0 {
		t.Fatalf("no line of drover's names the interpreter:\n%s", strings.Join(d.lines(), "\n"))
	}
	for _, l := range drovers {
		if strings.ContainsRune(l, 0x1b) {
			t.Errorf("raw ESC in %q", l)
		}
	}
}

// A DROVER_* name drover does not know, with ESC in it: one line, exit 2,
// in either format.
func TestLogInjectionUnknownVariable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"DROVER_WO\x1b[2KRKERS=1"}, `drover: DROVER_WO\x1b[2KRKERS="1": no such variable`},
		{[]string{"DROVER_WORKERS=\x1b]0;owned\x07\u009b2J"}, `drover: DROVER_WORKERS="\x1b]0;owned\a\u009b2J" is not valid`},
		{[]string{"DROVER_LOG_FORMAT=json", "DROVER_WO\x1b[2KRKERS=1"}, `{"time":`},
	} {
		out, err := command(t, opts{env: tc.env}, "--", "true").CombinedOutput()
		if code := exitCode(err); code != 2 {
			t.Errorf("%q: exit %d, want 2; %q", tc.env, code, out)
		}
		rawControls(t, string(out))
		if !strings.HasPrefix(string(out), tc.want) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("%q: %q, want one line starting %q", tc.env, out, tc.want)
		}
	}
}
