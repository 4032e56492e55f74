package sockwait

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The table for amd64 against golang.org/x/sys, when the tests run there
// (GOARCH=amd64 go test -c, then qemu-user or the real machine).
func TestSyscallNumbersAmd64(t *testing.T) {
	checkTable(t, "amd64", map[int]call{
		unix.SYS_ACCEPT:   callAccept,
		unix.SYS_ACCEPT4:  callAccept,
		unix.SYS_POLL:     callPoll,
		unix.SYS_PPOLL:    callPoll,
		unix.SYS_SELECT:   callSelect,
		unix.SYS_PSELECT6: callSelect,
	})
}
