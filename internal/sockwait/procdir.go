package sockwait

import (
	"io/fs"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// procDir is an open /proc/PID. Every file of the process is opened
// relative to it: no path lookup from the root for each, and a pid reused
// by a new process mid-check cannot be mistaken for the old one (the
// directory of an exited process answers ESRCH or ENOENT).
type procDir struct {
	fd   int
	path string
	c    *Checker
}

func (c *Checker) openProc(pid int) (*procDir, error) {
	path := filepath.Join(c.root, strconv.Itoa(pid))
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &procDir{fd: fd, path: path, c: c}, nil
}

func (d *procDir) close() { unix.Close(d.fd) }

// owner is the uid and gid of the directory: the process's effective ids
// as long as it is dumpable (one that changed ids and has not exec'd since
// shows as root, and reading it needs CAP_SYS_PTRACE).
func (d *procDir) owner() (uid, gid uint32, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return 0, 0, &fs.PathError{Op: "stat", Path: d.path, Err: err}
	}
	return st.Uid, st.Gid, nil
}

// names lists the directory rel ("fd", "task").
func (d *procDir) names(rel string) ([]string, error) {
	fd, err := unix.Openat(d.fd, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(d.path, rel), Err: err}
	}
	defer unix.Close(fd)
	bp := d.c.bufs.Get().(*[]byte)
	defer d.c.bufs.Put(bp)
	buf := (*bp)[:cap(*bp)]
	var names []string
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: filepath.Join(d.path, rel), Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// readlink reads the link rel into buf.
func (d *procDir) readlink(rel string, buf []byte) ([]byte, error) {
	n, err := unix.Readlinkat(d.fd, rel, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "readlink", Path: filepath.Join(d.path, rel), Err: err}
	}
	return buf[:n], nil
}

// read reads the small file rel into a pooled buffer; release it after.
// One read is enough for a /proc file that fits the buffer.
func (d *procDir) read(rel string) (*[]byte, bool) {
	fd, err := unix.Openat(d.fd, rel, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	bp := d.c.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			if cap(b) >= 1<<20 {
				break // the fdinfo of a huge epoll set: what we have will do
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if n <= 0 || err != nil {
			break
		}
		b = b[:len(b)+n]
		if len(b) < cap(b) {
			break // short read: the whole file
		}
	}
	*bp = b
	return bp, true
}

func (c *Checker) release(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		c.bufs.Put(bp)
	}
}
