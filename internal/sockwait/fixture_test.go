package sockwait

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fproc is one process of a fixture /proc, for what the kernel here cannot
// show: other architectures, exotic layouts.
type fproc struct {
	pid      int
	comm     string
	fds      map[int]string // link targets
	fdinfo   map[int]string
	syscalls []string // one thread each, tids pid, pid+1000, …
	children []int
	mem      map[uint64][]byte
}

const fixSock = 7001 // the inode of "drover's" socket in fixtures

// buildProc writes a fixture proc tree and returns its root.
func buildProc(t *testing.T, procs ...fproc) string {
	t.Helper()
	root := t.TempDir()
	w := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(p.pid))
		w(filepath.Join(dir, "comm"), p.comm+"\n")
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		for fd, target := range p.fds {
			if err := os.Symlink(target, filepath.Join(dir, "fd", strconv.Itoa(fd))); err != nil {
				t.Fatal(err)
			}
		}
		for fd, info := range p.fdinfo {
			w(filepath.Join(dir, "fdinfo", strconv.Itoa(fd)), info)
		}
		sys := p.syscalls
		if len(sys) == 0 {
			sys = []string{"running"}
		}
		for i, s := range sys {
			task := filepath.Join(dir, "task", strconv.Itoa(p.pid+1000*i))
			w(filepath.Join(task, "syscall"), s+"\n")
			kids := ""
			if i == 0 {
				for _, c := range p.children {
					kids += strconv.Itoa(c) + " "
				}
			}
			w(filepath.Join(task, "children"), kids)
		}
		var mem []byte
		for addr, b := range p.mem {
			if end := int(addr) + len(b); end > len(mem) {
				mem = append(mem, make([]byte, end-len(mem))...)
			}
			copy(mem[addr:], b)
		}
		w(filepath.Join(dir, "mem"), string(mem))
	}
	return root
}

// sc is a syscall line: nr and six arguments, then sp and pc.
func sc(nr int, args ...uint64) string {
	s := strconv.Itoa(nr)
	for i := 0; i < 6; i++ {
		var a uint64
		if i < len(args) {
			a = args[i]
		}
		s += fmt.Sprintf(" 0x%x", a)
	}
	return s + " 0x7ffc0000 0x7f000000"
}

func pollfds(order binary.ByteOrder, entries ...[2]int) []byte {
	b := make([]byte, 8*len(entries))
	for i, e := range entries {
		order.PutUint32(b[8*i:], uint32(int32(e[0])))
		order.PutUint16(b[8*i+4:], uint16(e[1]))
	}
	return b
}

func fdset(order binary.ByteOrder, word int, fds ...int) []byte {
	b := make([]byte, 2*word)
	for _, fd := range fds {
		i := fd / (word * 8) * word
		if word == 4 {
			order.PutUint32(b[i:], order.Uint32(b[i:])|1<<(fd%32))
		} else {
			order.PutUint64(b[i:], order.Uint64(b[i:])|1<<(fd%64))
		}
	}
	return b
}

func TestFixtureArchitectures(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	fds := map[int]string{0: "/dev/null", 3: "socket:[7001]", 5: "socket:[9999]"}
	cases := []struct {
		arch, name string
		sys        string
		mem        map[uint64][]byte
		want       How
	}{
		{"amd64", "accept", sc(43, 3), nil, Accept},
		{"amd64", "accept4", sc(288, 3, 0, 0, 0x80800), nil, Accept},
		{"amd64", "accept on another socket", sc(288, 5), nil, ""},
		{"amd64", "poll", sc(7, 0x100, 2, 500), map[uint64][]byte{0x100: pollfds(le, [2]int{0, 1}, [2]int{3, 1})}, Poll},
		{"amd64", "poll for writing only", sc(7, 0x100, 1, 500), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 4})}, ""},
		{"amd64", "poll past the memory", sc(7, 0x4000, 1, 500), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 1})}, ""},
		{"amd64", "poll of too many", sc(7, 0x100, maxPollFDs+1, 500), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 1})}, ""},
		{"amd64", "ppoll", sc(271, 0x100, 1), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 1})}, Poll},
		{"amd64", "select", sc(23, 4, 0x200), map[uint64][]byte{0x200: fdset(le, 8, 3)}, Select},
		{"amd64", "select of other fds", sc(23, 6, 0x200), map[uint64][]byte{0x200: fdset(le, 8, 5)}, ""},
		{"amd64", "select below the fd", sc(23, 3, 0x200), map[uint64][]byte{0x200: fdset(le, 8, 3)}, ""},
		{"amd64", "select without a read set", sc(23, 4, 0), nil, ""},
		{"amd64", "pselect6", sc(270, 4, 0x200), map[uint64][]byte{0x200: fdset(le, 8, 3)}, Select},
		{"amd64", "blocked elsewhere", sc(61, 3), nil, ""},
		{"amd64", "running", "running", nil, ""},
		{"amd64", "between calls", "-1 0x7ffc0000 0x7f000000", nil, ""},
		{"arm64", "accept", sc(202, 3), nil, Accept},
		{"arm64", "accept4", sc(242, 3), nil, Accept},
		{"arm64", "ppoll", sc(73, 0x100, 2), map[uint64][]byte{0x100: pollfds(le, [2]int{-1, 0}, [2]int{3, 1})}, Poll},
		{"arm64", "pselect6", sc(72, 4, 0x200), map[uint64][]byte{0x200: fdset(le, 8, 3)}, Select},
		{"arm64", "amd64's poll number", sc(7, 0x100, 1), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 1})}, ""},
		{"riscv64", "accept4", sc(242, 3), nil, Accept},
		{"arm", "accept", sc(285, 3), nil, Accept},
		{"arm", "_newselect", sc(142, 4, 0x200), map[uint64][]byte{0x200: fdset(le, 4, 3)}, Select},
		{"arm", "pselect6_time64", sc(413, 40, 0x200), map[uint64][]byte{0x200: fdset(le, 4, 3)}, Select},
		{"arm", "ppoll_time64", sc(414, 0x100, 1), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 1})}, Poll},
		{"ppc64le", "socketcall accept", sc(102, socketcallAccept, 0x300), map[uint64][]byte{0x300: {3, 0, 0, 0, 0, 0, 0, 0}}, Accept},
		{"ppc64le", "socketcall connect", sc(102, 3, 0x300), map[uint64][]byte{0x300: {3, 0, 0, 0, 0, 0, 0, 0}}, ""},
		{"ppc64le", "_newselect", sc(142, 4, 0x200), map[uint64][]byte{0x200: fdset(le, 8, 3)}, Select},
		{"s390x", "accept4", sc(364, 3), nil, Accept},
		{"s390x", "poll", sc(168, 0x100, 1), map[uint64][]byte{0x100: pollfds(be, [2]int{3, 1})}, Poll},
		{"s390x", "poll read little-endian", sc(168, 0x100, 1), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 1})}, ""},
		{"s390x", "select", sc(142, 4, 0x200), map[uint64][]byte{0x200: fdset(be, 8, 3)}, Select},
		{"s390x", "socketcall accept4", sc(102, socketcallAccept4, 0x300), map[uint64][]byte{0x300: {0, 0, 0, 0, 0, 0, 0, 3}}, Accept},
		// Elsewhere: accept4 as built, nothing decoded from memory.
		{"mips64le", "accept4", sc(unix.SYS_ACCEPT4, 3), nil, Accept},
		{"mips64le", "poll", sc(7, 0x100, 1), map[uint64][]byte{0x100: pollfds(le, [2]int{3, 1})}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.arch+"/"+tc.name, func(t *testing.T) {
			root := buildProc(t, fproc{pid: 10, comm: "server", fds: fds,
				syscalls: []string{"running", tc.sys}, mem: tc.mem})
			c, err := NewArch(root, tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.Check(10, []Socket{{Ino: fixSock}})
			if err != nil {
				t.Fatal(err)
			}
			if r.How != tc.want || r.Listening != (tc.want != "") {
				t.Errorf("got %+v, want %q", r, tc.want)
			}
		})
	}
}

func TestFixtureEpollAndTree(t *testing.T) {
	epoll := func(lines ...string) string {
		return "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n" + strings.Join(lines, "\n") + "\n"
	}
	sockfs := Socket{Ino: fixSock, Major: 0, Minor: 8}
	cases := []struct {
		name  string
		procs []fproc
		sock  Socket
		want  How
		pid   int
		shell bool
	}{
		{"epoll", []fproc{{pid: 10, fds: map[int]string{4: "anon_inode:[eventpoll]"},
			fdinfo: map[int]string{4: epoll("tfd:        9 events:       19 data:                9  pos:0 ino:1b59 sdev:8")}}},
			sockfs, Epoll, 10, false},
		{"epoll on another device", []fproc{{pid: 10, fds: map[int]string{4: "anon_inode:[eventpoll]"},
			fdinfo: map[int]string{4: epoll("tfd:        9 events:       19 data:                9  pos:0 ino:1b59 sdev:800001")}}},
			sockfs, "", 0, false},
		{"epoll of other files", []fproc{{pid: 10, fds: map[int]string{3: "socket:[7001]", 4: "anon_inode:[eventpoll]"},
			fdinfo: map[int]string{4: epoll("tfd:        5 events:       19 data:                5  pos:0 ino:1b5a sdev:8", "tfd: junk")}}},
			sockfs, "", 0, false},
		{"epoll of a device-less socket", []fproc{{pid: 10, fds: map[int]string{4: "anon_inode:[eventpoll]"},
			fdinfo: map[int]string{4: epoll("tfd:        9 events:       19 data:                9  pos:0 ino:1b59")}}},
			sockfs, Epoll, 10, false},
		{"grandchild accepts", []fproc{
			{pid: 10, comm: "sh", fds: map[int]string{3: "socket:[7001]"}, syscalls: []string{sc(61, 0xffffffff)}, children: []int{11}},
			{pid: 11, comm: "python3", fds: map[int]string{3: "socket:[7001]"}, syscalls: []string{sc(61, 0xffffffff)}, children: []int{12, 13}},
			{pid: 12, comm: "python3", fds: map[int]string{}},
			{pid: 13, comm: "python3", fds: map[int]string{3: "socket:[7001]"}, syscalls: []string{"running", sc(288, 3)}}},
			Socket{Ino: fixSock}, Accept, 13, false},
		{"shell without exec", []fproc{
			{pid: 10, comm: "bash", fds: map[int]string{3: "socket:[7001]"}, syscalls: []string{sc(61, 0xffffffff)}, children: []int{11}},
			{pid: 11, comm: "gunicorn", fds: map[int]string{3: "socket:[7001]", 5: "socket:[1234]"}, syscalls: []string{sc(23, 6, 0x200)},
				mem: map[uint64][]byte{0x200: fdset(binary.LittleEndian, 8, 5)}}},
			Socket{Ino: fixSock}, "", 0, true},
		{"shell that closed the socket", []fproc{
			{pid: 10, comm: "sh", fds: map[int]string{}, children: []int{11}},
			{pid: 11, comm: "server", fds: map[int]string{}}},
			Socket{Ino: fixSock}, "", 0, false},
		{"a loop in a broken /proc", []fproc{
			{pid: 10, comm: "a", fds: map[int]string{}, children: []int{11}},
			{pid: 11, comm: "b", fds: map[int]string{}, children: []int{10, 99}}},
			Socket{Ino: fixSock}, "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewArch(buildProc(t, tc.procs...), "amd64")
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.Check(10, []Socket{tc.sock})
			if err != nil {
				t.Fatal(err)
			}
			if r.How != tc.want || r.Pid != tc.pid || r.Shell != tc.shell {
				t.Errorf("got %+v, want how %q pid %d shell %v", r, tc.want, tc.pid, tc.shell)
			}
		})
	}
	if _, err := New(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing proc root: no error")
	}
}
