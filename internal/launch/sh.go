package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/drover-init/drover/internal/kfile"
)

// The shell fast path of the exec shim. Re-executing drover costs a Go
// runtime start (about 3 ms on a small machine); a POSIX shell that sets the
// pid variables to $$ and execs the program costs about 1 ms. A shell is
// only used where it cannot change what the program sees:
//   - every variable name must be one a shell passes on (dash drops names
//     such as "a.b"), and PWD must be absent or right (dash sets it);
//   - the program's argv[0] must be what the shell execs by: the path
//     itself, or a bare name that the shell's own PATH search resolves to
//     the same file (dash has no `exec -a`), and the shell must run as
//     drover does, or its search could see other files;
//   - the exec-detection pipe must be a descriptor the shell can name:
//     dash reads one digit in a redirection, so `10>&-` would become an
//     argument "10" and a close of stdout. With seven sockets or more the
//     pipe is fd 10 or above.
// Otherwise, and in images without /bin/sh, drover itself is the shim.

// maxShFD is the highest descriptor every POSIX shell can name in a
// redirection (dash reads one digit).
const maxShFD = 9

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

// shOOM sets the shell's own oom_score_adj, which the program keeps
// across exec. A failure is one line in drover's words, and the program
// still starts.
func shOOM(score int) string {
	n := strconv.Itoa(score)
	return `{ echo ` + n + ` >/proc/self/oom_score_adj; } 2>/dev/null || echo "drover: cannot set the oom_score_adj of worker $$ to ` + n + `" >&2; `
}

// shSafe says whether the shell fast path passes env and argv on unchanged,
// and whether the script must unset the PWD the shell would add. asUser is
// true when the shell would run with other credentials than drover's. A
// program whose interpreter is missing goes through drover's shim, whose
// error names the interpreter where the shell's would only say "not found".
func shSafe(env, args []string, path string, pidVars []string, fd int, asUser bool) (ok, unsetPWD bool) {
	if fd > maxShFD || len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return false, false // `exec -x` would be an option to bash's exec
	}
	if args[0] != path && (asUser || strings.Contains(args[0], "/") || shSearch(env, args[0]) != path) {
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

// shSearch is the file a shell's `exec name` runs with env's PATH: the
// first executable regular file of that name along it. It is "" where a
// shell might search differently: no PATH, an empty or relative entry (the
// current directory), or a "%" (dash's builtin markers).
func shSearch(env []string, name string) string {
	pathVar, set := "", false
	for _, kv := range env { // the last one, as exec.Cmd keeps
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar, set = v, true
		}
	}
	if !set {
		return ""
	}
	dirs := strings.Split(pathVar, ":")
	for _, dir := range dirs {
		if !strings.HasPrefix(dir, "/") || strings.Contains(dir, "%") {
			return ""
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
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
	f, err := kfile.Open(path)
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
