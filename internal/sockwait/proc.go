package sockwait

import (
	"bytes"
	"errors"
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

// visitFunc sees one process of a tree, open, with its thread ids; it
// says whether the walk goes on.
type visitFunc func(p int, d *procDir, tids []string) bool

// walk calls visit for pid and its descendants, parents first, until visit
// says stop, each with the process's own credentials where drover's do not
// reach it (see asOwner). Children are found through every thread's
// children file: the kernel lists a child under the thread that forked it.
// It returns the error of pid itself, the children of pid, and whether the
// walk was stopped.
func (c *Checker) walk(pid int, visit visitFunc) (rootKids []int, err error) {
	seen := map[int]bool{}
	queue := []int{pid}
	for len(queue) > 0 && len(seen) < maxProcs {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		stop := false
		n := len(queue)
		e := c.visit(p, func(p int, d *procDir, tids []string) bool {
			if !visit(p, d, tids) {
				stop = true
				return false
			}
			queue = d.children(tids, queue)
			return true
		})
		if p == pid {
			err = e
			rootKids = queue[n:]
		}
		if stop {
			break
		}
	}
	return rootKids, err
}

// visit opens p and runs f on it with p's credentials if need be.
func (c *Checker) visit(p int, f visitFunc) error {
	d, err := c.openProc(p)
	if err != nil {
		return err
	}
	defer d.close()
	return c.asOwner(d, func() error {
		tids, err := d.names("task")
		if err != nil {
			return err
		}
		f(p, d, tids)
		return nil
	})
}

// inspect reads one process: its descriptors, its epoll interest lists
// and, if it holds one of the sockets, what its threads are blocked in.
// With waits false only the descriptors are read (explanations).
func (c *Checker) inspect(d *procDir, tids []string, socks []Socket, waits bool) (procInfo, error) {
	var info procInfo
	names, err := d.names("fd")
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
		link, err := d.readlink("fd/"+name, buf)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return info, err
			}
			continue // closed meanwhile
		}
		switch {
		case bytes.HasPrefix(link, []byte("socket:[")) && len(link) > 9:
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
		if c.epollWatches(d, "fdinfo/"+strconv.Itoa(fd), socks) {
			info.how = Epoll
			return info, nil
		}
	}
	if len(mine) == 0 {
		return info, nil // accept, poll and select need a descriptor of their own
	}
	info.how = c.threadsWait(d, tids, mine)
	return info, nil
}

// epollWatches reads an epoll fdinfo file: one "tfd: N events: … ino:X
// sdev:Y" line per watched file, ino and sdev in hex.
func (c *Checker) epollWatches(d *procDir, rel string, socks []Socket) bool {
	data, ok := d.read(rel)
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

// threadsWait finds a thread of the process blocked waiting for a
// connection on one of the descriptors fds.
func (c *Checker) threadsWait(d *procDir, tids []string, fds []int) How {
	mem := -1
	defer func() {
		if mem >= 0 {
			unix.Close(mem)
		}
	}()
	memAt := func(addr uint64, n int) []byte {
		if mem < 0 {
			var err error
			if mem, err = unix.Openat(d.fd, "mem", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				mem = -1
				return nil
			}
		}
		if addr > 1<<63-1 {
			return nil
		}
		b := make([]byte, n)
		if k, _ := unix.Pread(mem, b, int64(addr)); k != n {
			return nil
		}
		return b
	}
	for _, tid := range tids {
		data, ok := d.read("task/" + tid + "/syscall")
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

// children appends the children listed by the threads tids to to.
func (d *procDir) children(tids []string, to []int) []int {
	for _, t := range tids {
		data, ok := d.read("task/" + t + "/children")
		if !ok {
			continue // a thread ending mid-walk, or a kernel without CONFIG_PROC_CHILDREN
		}
		for _, f := range strings.Fields(string(*data)) {
			if n, err := strconv.Atoi(f); err == nil && n > 0 {
				to = append(to, n)
			}
		}
		d.c.release(data)
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
