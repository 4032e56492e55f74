// Package kfile reads the small files drover looks at while it runs
// (cgroup and /proc files, sysctls, the Downward API file, the first bytes
// of a command) so that no read can ever block PID 1.
//
// A path drover reads may not be what it should be: DROVER_CPU_FILE is
// the user's to name, a mount may put a FIFO over a cgroup file, and a
// command may be a device. A FIFO blocks open(2) until a writer comes and
// read(2) until it writes; a device may never end (/dev/zero) or act on
// being opened; a directory has no content. So a path is checked to be a
// regular file before it is opened, opened with O_NONBLOCK (a FIFO swapped
// in after that check opens at once instead of waiting for a writer) and
// O_NOCTTY, checked again with fstat, and read to a bound: more than the
// bound is an error, never a cut that could turn "1234" into "12".
//
// It is a leaf: it imports nothing of drover's, so every package may use
// it without depending on another.
package kfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotRegular refuses a path that is not a regular file; the error says
// what it is instead ("not a regular file (a FIFO)").
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading in a way that cannot block the caller.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	var fd int
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if fst.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, notRegular(path, modeOf(fst.Mode))
	}
	return os.NewFile(uintptr(fd), path), nil
}

// MaxChildren bounds one /proc/PID/task/TID/children: pid_max is at most
// 2^22, so even every possible pid listed is under 32 MiB.
const MaxChildren = 32 << 20

// Read reads all of a file of at most max bytes; a larger one is an error.
func Read(path string, max int) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, max)
}

// ReadAll reads what is left of an opened file, at most max bytes.
func ReadAll(f *os.File, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, &fs.PathError{Op: "read", Path: f.Name(), Err: fmt.Errorf("larger than %d bytes", max)}
	}
	return b, nil
}

// modeOf maps a stat(2) file type onto fs.FileMode's type bits.
func modeOf(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// notRegular says what path is instead, for the log line.
func notRegular(path string, m fs.FileMode) error {
	what := "a special file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a block device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, what)}
}
