package sockwait

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Bounds on what one process's memory may make us read.
const (
	maxPollFDs   = 4096    // struct pollfd entries
	maxSelectFDs = 1 << 16 // bits of an fd_set
)

// procInfo is what one process showed.
type procInfo struct {
	how   How      // waiting on one of the sockets, and how; "" if not
	holds bool     // has one of the sockets open
	own   []uint64 // inodes of sockets that are not drover's (explain only)
}

// inspect reads process p: its descriptors, its epoll interest lists and,
// if it holds one of the sockets, what its threads are blocked in. With
// waits false only the descriptors are read (explanations).
func (c *Checker) inspect(p int, socks []Socket, waits bool) (procInfo, error) {
	var info procInfo
	err := c.asOwner(p, func() error {
		var err error
		info, err = c.inspectAs(p, socks, waits)
		return err
	})
	return info, err
}

func (c *Checker) inspectAs(p int, socks []Socket, waits bool) (procInfo, error) {
	var info procInfo
	dir := filepath.Join(c.root, strconv.Itoa(p))
	fdDir := filepath.Join(dir, "fd")
	d, err := os.Open(fdDir)
	if err != nil {
		return info, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return info, err
	}
	var mine, epolls []int
	buf := make([]byte, 64)
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		n, err := unix.Readlink(filepath.Join(fdDir, name), buf)
		if err != nil {
			if errorsIsPerm(err) {
				return info, &fs.PathError{Op: "readlink", Path: filepath.Join(fdDir, name), Err: err}
			}
			continue // closed meanwhile
		}
		link := buf[:n]
		switch {
		case bytes.HasPrefix(link, []byte("socket:[")):
			ino, err := strconv.ParseUint(string(link[8:len(link)-1]), 10, 64)
			if err != nil {
				continue
			}
			if matchIno(socks, ino) {
				mine = append(mine, fd)
			} else if !waits {
				info.own = append(info.own, ino)
			}
		case string(link) == "anon_inode:[eventpoll]":
			epolls = append(epolls, fd)
		}
	}
	info.holds = len(mine) > 0
	if !waits {
		return info, nil
	}
	for _, fd := range epolls {
		if c.epollWatches(filepath.Join(dir, "fdinfo", strconv.Itoa(fd)), socks) {
			info.how = Epoll
			return info, nil
		}
	}
	if len(mine) == 0 {
		return info, nil // accept, poll and select need a descriptor of their own
	}
	info.how = c.threadsWait(dir, mine)
	return info, nil
}

// epollWatches reads an epoll fdinfo file: one "tfd: N events: … ino:X
// sdev:Y" line per watched file, ino and sdev in hex.
func (c *Checker) epollWatches(path string, socks []Socket) bool {
	data, ok := c.read(path)
	if !ok {
		return false
	}
	defer c.release(data)
	for line := range bytes.Lines(*data) {
		if !bytes.HasPrefix(line, []byte("tfd:")) {
			continue
		}
		ino, ok := field(line, "ino:")
		if !ok {
			continue
		}
		dev, hasDev := field(line, "sdev:")
		for _, s := range socks {
			if s.Ino != ino {
				continue
			}
			// sdev is the kernel's dev_t: major in the bits above 20.
			if !hasDev || (s.Major == 0 && s.Minor == 0) ||
				(uint32(dev>>20) == s.Major && uint32(dev&0xfffff) == s.Minor) {
				return true
			}
		}
	}
	return false
}

// field parses the hex number after key in line.
func field(line []byte, key string) (uint64, bool) {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := line[i+len(key):]
	end := 0
	for end < len(rest) && isHex(rest[end]) {
		end++
	}
	v, err := strconv.ParseUint(string(rest[:end]), 16, 64)
	return v, err == nil
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// threadsWait finds a thread of the process at dir blocked waiting for a
// connection on one of the descriptors fds.
func (c *Checker) threadsWait(dir string, fds []int) How {
	taskDir := filepath.Join(dir, "task")
	d, err := os.Open(taskDir)
	if err != nil {
		return ""
	}
	tids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return ""
	}
	var mem *os.File
	defer func() {
		if mem != nil {
			mem.Close()
		}
	}()
	memAt := func(addr uint64, n int) []byte {
		if mem == nil {
			if mem, err = os.Open(filepath.Join(dir, "mem")); err != nil {
				mem = nil
				return nil
			}
		}
		b := make([]byte, n)
		if addr > 1<<63-1 {
			return nil
		}
		if k, err := mem.ReadAt(b, int64(addr)); k != n {
			_ = err
			return nil
		}
		return b
	}
	for _, tid := range tids {
		data, ok := c.read(filepath.Join(taskDir, tid, "syscall"))
		if !ok {
			continue
		}
		nr, args, ok := parseSyscall(*data)
		c.release(data)
		if !ok {
			continue
		}
		if how := c.decode(nr, args, fds, memAt); how != "" {
			return how
		}
	}
	return ""
}

// parseSyscall reads /proc/PID/task/TID/syscall: "nr arg0 … arg5 sp pc"
// for a thread blocked in a system call, "-1 sp pc" or "running" otherwise.
func parseSyscall(b []byte) (nr int, args [6]uint64, ok bool) {
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return 0, args, false
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil || nr < 0 {
		return 0, args, false
	}
	for i := range args {
		v, err := strconv.ParseUint(strings.TrimPrefix(f[1+i], "0x"), 16, 64)
		if err != nil {
			return 0, args, false
		}
		args[i] = v
	}
	return nr, args, true
}

// decode says whether a thread blocked in system call nr with args waits
// for a connection on one of fds.
func (c *Checker) decode(nr int, args [6]uint64, fds []int, mem func(addr uint64, n int) []byte) How {
	a := c.arch
	switch a.calls[nr] {
	case callAccept:
		if hasFD(fds, int64(int32(args[0]))) {
			return Accept
		}
	case callSocketcall:
		if args[0] != socketcallAccept && args[0] != socketcallAccept4 {
			return ""
		}
		if b := mem(args[1], a.word); b != nil && hasFD(fds, a.long(b)) {
			return Accept
		}
	case callPoll:
		n := args[1]
		if n == 0 || n > maxPollFDs {
			return ""
		}
		b := mem(args[0], int(n)*8)
		for i := 0; i+8 <= len(b); i += 8 {
			fd := int32(a.order.Uint32(b[i:]))
			events := a.order.Uint16(b[i+4:])
			if events&unix.POLLIN != 0 && hasFD(fds, int64(fd)) {
				return Poll
			}
		}
	case callSelect:
		nfds, set := args[0], args[1]
		if set == 0 || nfds == 0 || nfds > maxSelectFDs {
			return ""
		}
		bits := a.word * 8
		words := (int(nfds) + bits - 1) / bits
		b := mem(set, words*a.word)
		if b == nil {
			return ""
		}
		for _, fd := range fds {
			if fd >= int(nfds) {
				continue
			}
			w := a.long(b[fd/bits*a.word:])
			if uint64(w)&(1<<(uint(fd)%uint(bits))) != 0 {
				return Select
			}
		}
	}
	return ""
}

// long reads one C long from b in the architecture's byte order.
func (a *arch) long(b []byte) int64 {
	if a.word == 4 {
		return int64(int32(a.order.Uint32(b)))
	}
	return int64(a.order.Uint64(b))
}

func hasFD(fds []int, fd int64) bool {
	for _, f := range fds {
		if int64(f) == fd {
			return true
		}
	}
	return false
}

func matchIno(socks []Socket, ino uint64) bool {
	for _, s := range socks {
		if s.Ino == ino {
			return true
		}
	}
	return false
}

// children appends pid's children to to.
func (c *Checker) children(pid int, to []int) []int {
	taskDir := filepath.Join(c.root, strconv.Itoa(pid), "task")
	d, err := os.Open(taskDir)
	if err != nil {
		return to
	}
	tids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return to
	}
	for _, t := range tids {
		data, ok := c.read(filepath.Join(taskDir, t, "children"))
		if !ok {
			continue // a thread ending mid-walk, or a kernel without CONFIG_PROC_CHILDREN
		}
		for _, f := range strings.Fields(string(*data)) {
			if n, err := strconv.Atoi(f); err == nil && n > 0 {
				to = append(to, n)
			}
		}
		c.release(data)
	}
	return to
}

// comm is the process's command name ("" if gone).
func (c *Checker) comm(pid int) string {
	b, err := os.ReadFile(filepath.Join(c.root, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// isShell: the command names of the shells a `sh -c` line runs under.
func isShell(comm string) bool {
	switch comm {
	case "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox":
		return true
	}
	return false
}

// read reads a small /proc file into a pooled buffer.
func (c *Checker) read(path string) (*[]byte, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	bp := c.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			if cap(b) >= 1<<20 {
				break // an fdinfo of a huge epoll set: what we have is enough to stop
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if n <= 0 || err != nil {
			break
		}
		b = b[:len(b)+n]
	}
	*bp = b
	return bp, true
}

func (c *Checker) release(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		c.bufs.Put(bp)
	}
}

func errorsIsPerm(err error) bool { return err == unix.EACCES || err == unix.EPERM }

