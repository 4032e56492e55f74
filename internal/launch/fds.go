package launch

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// SealFDs marks every descriptor above stderr close-on-exec, so that what
// drover itself inherited (from a container runtime, a shell, a test
// runner) never leaks into a worker: workers get stdio and exactly the
// sockets they are handed.
func SealFDs() error {
	return sealFDs(unix.CloseRange, "/proc/self/fd")
}

// sealFDs falls back to listing fdDir where close_range is missing
// (kernels before 5.11, or a seccomp profile that refuses it).
func sealFDs(closeRange func(first, last, flags uint) error, fdDir string) error {
	if closeRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return nil
	}
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return fmt.Errorf("listing open fds: %w", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}
