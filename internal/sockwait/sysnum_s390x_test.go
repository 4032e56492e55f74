package sockwait

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The table for s390x against golang.org/x/sys, when the tests run there
// (GOARCH=s390x go test -c, then qemu-user or the real machine).
func TestSyscallNumbersS390x(t *testing.T) {
	checkTable(t, "s390x", map[int]call{
		unix.SYS_ACCEPT4:    callAccept,
		unix.SYS_POLL:       callPoll,
		unix.SYS_PPOLL:      callPoll,
		unix.SYS_SELECT:     callSelect,
		unix.SYS_PSELECT6:   callSelect,
		unix.SYS_SOCKETCALL: callSocketcall,
	})
}
