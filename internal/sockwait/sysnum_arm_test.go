package sockwait

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The table for arm against golang.org/x/sys, when the tests run there
// (GOARCH=arm go test -c, then qemu-user or the real machine).
func TestSyscallNumbersArm(t *testing.T) {
	checkTable(t, "arm", map[int]call{
		unix.SYS_ACCEPT:          callAccept,
		unix.SYS_ACCEPT4:         callAccept,
		unix.SYS_POLL:            callPoll,
		unix.SYS_PPOLL:           callPoll,
		unix.SYS_PPOLL_TIME64:    callPoll,
		unix.SYS__NEWSELECT:      callSelect,
		unix.SYS_PSELECT6:        callSelect,
		unix.SYS_PSELECT6_TIME64: callSelect,
	})
}
