package cpus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// errNoLimit is not a failure: the file says "unlimited" (-1, max).
var errNoLimit = errors.New("no limit")

// noMemoryLimit: v1 reports "unlimited" as a huge page-rounded number
// (9223372036854771712 on 4 KiB pages) and no real container gets near 4 EiB,
// so anything from 2^62 up means no limit.
const noMemoryLimit = uint64(1) << 62

// garbageError is a value the kernel would never write. want doubles as the
// reason for warning deduplication: one line per kind of garbage, not per
// level it appears at.
type garbageError struct {
	want, got string
}

func (e *garbageError) Error() string {
	return fmt.Sprintf("want %s, got %q", e.want, clip(e.got))
}

func garbage(want, got string) error { return &garbageError{want: want, got: got} }

// parseDecimal accepts only what the kernel writes: digits, no sign, no
// spaces, no leading "+", so that garbage is never mistaken for a limit.
func parseDecimal(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, garbage("a decimal number", s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, garbage("a decimal number", s)
	}
	return v, nil
}

// parseCFSQuota parses cpu.cfs_quota_us: microseconds per period, -1 for none.
func parseCFSQuota(data string) (int64, error) {
	s := strings.TrimSpace(data)
	if s == "-1" {
		return 0, errNoLimit
	}
	q, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if q <= 0 {
		return 0, garbage("a positive quota or -1", s)
	}
	return q, nil
}

// parseCFSPeriod parses cpu.cfs_period_us; zero would divide by zero.
func parseCFSPeriod(data string) (int64, error) {
	s := strings.TrimSpace(data)
	p, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if p <= 0 {
		return 0, garbage("a positive period", s)
	}
	return p, nil
}

// parseCPUMax parses v2 cpu.max, "QUOTA PERIOD" or "max PERIOD".
func parseCPUMax(data string) (quota, period int64, err error) {
	s := strings.TrimSpace(data)
	f := strings.Fields(s)
	if len(f) == 1 && f[0] == "max" {
		return 0, 0, errNoLimit
	}
	if len(f) != 2 || strings.ContainsAny(s, "\n") {
		return 0, 0, garbage(`"QUOTA PERIOD" or "max PERIOD"`, s)
	}
	period, err = parseCFSPeriod(f[1])
	if err != nil {
		return 0, 0, err
	}
	if f[0] == "max" {
		return 0, 0, errNoLimit
	}
	quota, err = parseDecimal(f[0])
	if err != nil {
		return 0, 0, err
	}
	if quota <= 0 {
		return 0, 0, garbage("a positive quota or max", f[0])
	}
	return quota, period, nil
}

// parseMemory parses v1 memory.limit_in_bytes and v2 memory.max alike; "max"
// only occurs in v2, the huge sentinel only in v1, neither is a limit.
func parseMemory(data string) (int64, error) {
	s := strings.TrimSpace(data)
	if s == "max" {
		return 0, errNoLimit
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, garbage("a byte count or max", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errNoLimit
		}
		return 0, garbage("a byte count or max", s)
	}
	if v >= noMemoryLimit {
		return 0, errNoLimit
	}
	return int64(v), nil
}

// errNotRegular refuses a path that is not a regular file: a FIFO blocks
// open(2) until a writer comes and read(2) until it writes, a device may
// never end (/dev/zero) or act on being opened, a directory has no
// content. cgroup, /proc and Downward API files are all regular files.
var errNotRegular = errors.New("not a regular file")

// openRegular opens path for reading in a way that cannot block PID 1:
// the path is checked to be a regular file before it is opened (opening
// some devices has side effects), opened with O_NONBLOCK (a FIFO swapped
// in after that check opens at once instead of waiting for a writer) and
// O_NOCTTY, and what was actually opened is checked again with fstat. The
// reads that follow are bounded by the caller (maxFileSize).
func openRegular(path string) (*os.File, error) {
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
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", errNotRegular, what)}
}
