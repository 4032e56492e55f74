package launch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/drover-init/drover/internal/kfile"
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
func startError(path string, err error) *Error {
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
	f, err := kfile.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head, _ := bufio.NewReader(f).ReadSlice('\n')
	if interp, ok := shebang(head); ok {
		switch {
		case interp == "":
			return "empty #! line"
		case strings.HasSuffix(interp, "\r"):
			// The kernel keeps the carriage return as part of the name.
			return fmt.Sprintf("interpreter %q not found (the #! line ends in CRLF: convert the script to Unix line endings)", interp)
		case strconv.Quote(interp) != `"`+interp+`"`:
			return fmt.Sprintf("interpreter %q not found", interp)
		}
		return fmt.Sprintf("interpreter %s not found", interp)
	}
	if interp := elfInterpreter(f); interp != "" {
		return fmt.Sprintf("ELF interpreter %s not found (a binary built for another libc?)", interp)
	}
	return ""
}

// shebang reads the interpreter from the start of a file the way the
// kernel does (fs/binfmt_script.c): after "#!" and any blanks, up to the
// next space, tab or end of line. A carriage return is not a blank there,
// so a script saved with CRLF names "/bin/sh\r". ok is false without "#!".
func shebang(head []byte) (interp string, ok bool) {
	rest, ok := bytes.CutPrefix(head, []byte("#!"))
	if !ok {
		return "", false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	line = bytes.TrimLeft(line, " \t")
	if i := bytes.IndexAny(line, " \t\x00"); i >= 0 {
		line = line[:i]
	}
	return string(line), true
}

// ExitCode is the status a shell gives a command it cannot start: 127
// when it does not exist (or its interpreter does not), 126 when it exists
// but cannot be executed, and 126 for anything else, which includes the
// transient errors a caller should have retried (see Transient).
func (e *Error) ExitCode() int { return exitCode(e.Err) }

// Transient says whether the start failed for lack of a resource that may
// come back (processes, descriptors, memory), as opposed to a command that
// is broken: retrying the first makes sense, counting it as a crash does not.
func (e *Error) Transient() bool {
	for _, errno := range []error{syscall.EAGAIN, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM} {
		if errors.Is(e.Err, errno) {
			return true
		}
	}
	return false
}

func exitCode(err error) int {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOTDIR) {
		return 127
	}
	return 126
}

// elfInterpreter is the PT_INTERP path of an ELF file, or "". It reads the
// program headers itself: debug/elf would pull zlib and zstd into PID 1 for
// one error message.
func elfInterpreter(f io.ReaderAt) string {
	var id [16]byte
	if _, err := f.ReadAt(id[:], 0); err != nil || string(id[:4]) != "\x7fELF" {
		return ""
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if id[5] == 2 {
		bo = binary.BigEndian
	}
	is64 := id[4] == 2
	hdr := make([]byte, 64)
	if _, err := f.ReadAt(hdr, 0); err != nil && !is64 {
		hdr = hdr[:52]
	}
	var phoff int64
	var phentsize, phnum int
	if is64 {
		phoff, phentsize, phnum = int64(bo.Uint64(hdr[32:])), int(bo.Uint16(hdr[54:])), int(bo.Uint16(hdr[56:]))
	} else {
		phoff, phentsize, phnum = int64(bo.Uint32(hdr[28:])), int(bo.Uint16(hdr[42:])), int(bo.Uint16(hdr[44:]))
	}
	if phentsize < 32 || phnum > 256 {
		return ""
	}
	ph := make([]byte, phentsize)
	for i := 0; i < phnum; i++ {
		if _, err := f.ReadAt(ph, phoff+int64(i*phentsize)); err != nil {
			return ""
		}
		if bo.Uint32(ph) != 3 { // PT_INTERP
			continue
		}
		var off, size int64
		if is64 {
			off, size = int64(bo.Uint64(ph[8:])), int64(bo.Uint64(ph[32:]))
		} else {
			off, size = int64(bo.Uint32(ph[4:])), int64(bo.Uint32(ph[16:]))
		}
		if size <= 0 || size > 4096 {
			return ""
		}
		b := make([]byte, size)
		if _, err := f.ReadAt(b, off); err != nil {
			return ""
		}
		return strings.TrimRight(string(b), "\x00")
	}
	return ""
}
