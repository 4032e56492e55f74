package sockwait

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The table for riscv64 against golang.org/x/sys, when the tests run there
// (GOARCH=riscv64 go test -c, then qemu-user or the real machine).
func TestSyscallNumbersRiscv64(t *testing.T) {
	checkTable(t, "riscv64", map[int]call{
		unix.SYS_ACCEPT:   callAccept,
		unix.SYS_ACCEPT4:  callAccept,
		unix.SYS_PPOLL:    callPoll,
		unix.SYS_PSELECT6: callSelect,
	})
}
