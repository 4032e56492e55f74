package sockwait

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// call is what a blocked system call means for us.
type call int

const (
	callAccept     call = iota + 1 // accept, accept4: arg0 is the fd
	callPoll                       // poll, ppoll: arg0 a struct pollfd array, arg1 its length
	callSelect                     // select, _newselect, pselect6: arg0 nfds, arg1 the read fd_set
	callSocketcall                 // socketcall(2): arg0 the call, arg1 a pointer to its arguments
)

// socketcall(2)'s call numbers (linux/net.h), the same on every architecture.
const (
	socketcallAccept  = 5
	socketcallAccept4 = 18
)

// arch is how one architecture's processes look from /proc: its system
// call numbers and the layout of what poll and select keep in memory.
type arch struct {
	name  string
	calls map[int]call
	word  int              // bytes in a long: fd_set words and socketcall arguments
	order binary.ByteOrder // of the process's memory
}

// archs are the architectures drover ships for. The numbers are the
// kernel's native ones for each (arch/*/syscall tables), checked against
// golang.org/x/sys in sysnum_*_test.go when the tests run on that
// architecture. A 32-bit program on a 64-bit kernel (compat) uses other
// numbers: for it, as for an architecture not listed, only epoll and
// accept4 are recognised.
var archs = map[string]*arch{
	"amd64": {name: "amd64", word: 8, order: binary.LittleEndian, calls: map[int]call{
		43: callAccept, 288: callAccept, 7: callPoll, 271: callPoll, 23: callSelect, 270: callSelect,
	}},
	"arm64": {name: "arm64", word: 8, order: binary.LittleEndian, calls: map[int]call{
		202: callAccept, 242: callAccept, 73: callPoll, 72: callSelect,
	}},
	"riscv64": {name: "riscv64", word: 8, order: binary.LittleEndian, calls: map[int]call{
		202: callAccept, 242: callAccept, 73: callPoll, 72: callSelect,
	}},
	"arm": {name: "arm", word: 4, order: binary.LittleEndian, calls: map[int]call{
		285: callAccept, 366: callAccept, 168: callPoll, 336: callPoll, 414: callPoll,
		142: callSelect, 335: callSelect, 413: callSelect,
	}},
	"ppc64le": {name: "ppc64le", word: 8, order: binary.LittleEndian, calls: map[int]call{
		330: callAccept, 344: callAccept, 167: callPoll, 281: callPoll, 142: callSelect, 280: callSelect,
		102: callSocketcall,
	}},
	"s390x": {name: "s390x", word: 8, order: binary.BigEndian, calls: map[int]call{
		364: callAccept, 168: callPoll, 302: callPoll, 142: callSelect, 301: callSelect,
		102: callSocketcall,
	}},
}

// fallback is any other architecture: accept4's number from x/sys, built
// for it; poll and select arguments are not decoded (their numbers and
// layouts are not checked there).
func fallback(name string) *arch {
	return &arch{name: name, word: 8, order: binary.NativeEndian, calls: map[int]call{unix.SYS_ACCEPT4: callAccept}}
}
