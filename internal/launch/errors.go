package launch

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Error is a failure to start the user's program. It wraps the errno, so a
// caller tells a transient lack of resources (errors.Is(err, syscall.EAGAIN),
// EMFILE, ENFILE, ENOMEM; see Transient) from a command that is broken and
// will fail the same way on every retry.
type Error struct {
	Path string
	// Cause says what is missing when it is not Path itself: a script
	// whose #! interpreter is gone fails with ENOENT although the script
	// exists, and "no such file" would send the user looking for the wrong
	// file.
	Cause string
	Err   error
}

func (e *Error) Error() string {
	if e.Cause != "" {
		return fmt.Sprintf("cannot run %s: %s", e.Path, e.Cause)
	}
	return fmt.Sprintf("cannot run %s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// startError classifies err from starting path (fork, exec, or the shim's
// exec) into an *Error. Only the failure path pays for reading the file.
func startError(path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err // "fork/exec PATH:" would repeat what Error says
	}
	e := &Error{Path: path, Err: err}
	if errors.Is(err, syscall.ENOENT) {
		e.Cause = missingInterpreter(path)
	}
	return e
}

// missingInterpreter names the interpreter that made exec of an existing
// file fail with ENOENT: the #! line of a script, or the dynamic loader
// (PT_INTERP) of an ELF binary built for another libc. Empty when path
// itself is missing.
func missingInterpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head, _ := bufio.NewReader(f).ReadSlice('\n')
	if rest, ok := bytes.CutPrefix(head, []byte("#!")); ok {
		if fields := strings.Fields(string(rest)); len(fields) > 0 {
			return fmt.Sprintf("interpreter %s not found", fields[0])
		}
		return "empty #! line"
	}
	if ef, err := elf.NewFile(f); err == nil {
		defer ef.Close()
		for _, p := range ef.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				return fmt.Sprintf("ELF interpreter %s not found (a binary built for another libc?)", strings.TrimRight(string(b), "\x00"))
			}
		}
	}
	return ""
}

// StartError is the status a shell gives a command it cannot start: 127
// when it does not exist (or its interpreter does not), 126 when it exists
// but cannot be executed, and 126 for anything else, which includes the
// transient errors a caller should have retried (see Transient).
func StartError(err error) int {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOTDIR) {
		return 127
	}
	return 126
}

// Transient says whether a start failed for lack of a resource that may
// come back (processes, descriptors, memory), as opposed to a command that
// is broken: retrying the first makes sense, counting it as a crash does not.
func Transient(err error) bool {
	for _, e := range []error{syscall.EAGAIN, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
