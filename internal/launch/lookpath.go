package launch

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultPath is where a command is looked for when PATH is unset: what
// glibc's execvp searches then (confstr _CS_PATH), and so what tini finds.
// Workers still get the environment as it was, without a PATH, as under
// tini: a program that needs one sets it.
const DefaultPath = "/bin:/usr/bin"

// LookPath resolves the user's command as execvp would with environ's
// PATH (the first one, as getenv reads), or DefaultPath when there is
// none. An empty PATH finds nothing. Like exec.LookPath it refuses a
// command found only through a relative entry (exec.ErrDot). A failure is
// an *Error: ExitCode gives 127 for not found, 126 for not executable.
func LookPath(file string, environ []string) (string, error) {
	if strings.Contains(file, "/") {
		p, err := exec.LookPath(file)
		if err != nil {
			return "", &Error{Path: file, Err: unwrapExec(err)}
		}
		return p, nil
	}
	path, set := DefaultPath, false
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path, set = v, true
			break
		}
	}
	if set && path == "" {
		return "", &Error{Path: file, Err: exec.ErrNotFound}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "." // an empty entry is the current directory
		}
		p := strings.TrimSuffix(dir, "/") + "/" + file // with a slash: no search
		if _, err := exec.LookPath(p); err != nil {
			continue
		}
		if !filepath.IsAbs(p) {
			return "", &Error{Path: file, Err: exec.ErrDot}
		}
		return p, nil
	}
	return "", &Error{Path: file, Err: exec.ErrNotFound}
}

// unwrapExec drops exec.Error's "exec: NAME:" prefix, which Error repeats.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
