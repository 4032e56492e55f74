package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The shell fast path of the exec shim. Re-executing drover costs a Go
// runtime start (about 3 ms on a small machine); a POSIX shell that sets the
// pid variables to $$ and execs the program costs about 1 ms. A shell is
// only used where it cannot change what the program sees: every variable
// name must be one a shell passes on (dash drops names such as "a.b"), the
// program's argv[0] must already be its path or its base name (dash has no
// `exec -a`), and PWD must be absent or right (dash sets it). Otherwise, and
// in images without /bin/sh, drover itself is the shim.

// shScript sets the pid variables, closes the exec-detection pipe and execs
// "$0" "$@". The pipe is closed by the redirection just before the exec, so
// its EOF means the program is starting.
func shScript(pidVars []string, fd int, unsetPWD bool) string {
	var b strings.Builder
	if unsetPWD {
		b.WriteString("unset PWD; ")
	}
	if len(pidVars) > 0 {
		b.WriteString("export")
		for _, v := range pidVars {
			b.WriteString(" " + v + "=$$")
		}
		b.WriteString("; ")
	}
	b.WriteString(`exec "$0" "$@" ` + strconv.Itoa(fd) + ">&-")
	return b.String()
}

// shSafe says whether the shell fast path passes env and argv on unchanged,
// and whether the script must unset the PWD the shell would add. A program
// whose interpreter is missing goes through drover's shim, whose error
// names the interpreter where the shell's would only say "not found".
func shSafe(env, args []string, path string, pidVars []string) (ok, unsetPWD bool) {
	if len(args) == 0 || (args[0] != path && args[0] != filepath.Base(path)) {
		return false, false
	}
	if interpreterMissing(path) {
		return false, false
	}
	for _, v := range pidVars {
		if !shName(v) {
			return false, false
		}
	}
	unsetPWD = true
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if !shName(k) {
			return false, false
		}
		if k == "PWD" {
			wd, err := os.Getwd()
			if err != nil || wd != v {
				return false, false
			}
			unsetPWD = false
		}
	}
	return true, unsetPWD
}

// shName is a name a POSIX shell keeps in the environment it passes on.
func shName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range []byte(k) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// interpreterMissing says whether path names an interpreter (a #! line, or
// an ELF binary's dynamic loader) that does not exist.
func interpreterMissing(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	var head [256]byte
	n, _ := f.ReadAt(head[:], 0)
	interp, ok := shebang(head[:n])
	if ok && interp == "" {
		return true
	}
	if !ok {
		interp = elfInterpreter(f)
	}
	if interp == "" {
		return false
	}
	_, err = os.Stat(interp)
	return err != nil
}
