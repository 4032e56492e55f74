package sockwait

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The table for ppc64le against golang.org/x/sys, when the tests run there
// (GOARCH=ppc64le go test -c, then qemu-user or the real machine).
func TestSyscallNumbersPpc64le(t *testing.T) {
	checkTable(t, "ppc64le", map[int]call{
		unix.SYS_ACCEPT:     callAccept,
		unix.SYS_ACCEPT4:    callAccept,
		unix.SYS_POLL:       callPoll,
		unix.SYS_PPOLL:      callPoll,
		unix.SYS__NEWSELECT: callSelect,
		unix.SYS_PSELECT6:   callSelect,
		unix.SYS_SOCKETCALL: callSocketcall,
	})
}
