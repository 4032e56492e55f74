package launch

import (
	"errors"
	"syscall"
	"testing"
)

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if e != 0 {
		t.Fatal(e)
	}
	return flags&syscall.FD_CLOEXEC != 0
}

// Both ways of sealing leave an inherited descriptor close-on-exec and
// stdio alone.
func TestSealFDs(t *testing.T) {
	failing := func(first, last, flags uint) error { return syscall.ENOSYS }
	for name, seal := range map[string]func() error{
		"close_range": SealFDs,
		"/proc":       func() error { return sealFDs(failing, "/proc/self/fd") },
	} {
		t.Run(name, func(t *testing.T) {
			fd, err := syscall.Dup(1) // dup: not close-on-exec, like an inherited fd
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			if cloexec(t, fd) {
				t.Fatal("dup'd fd already close-on-exec")
			}
			if err := seal(); err != nil {
				t.Fatal(err)
			}
			if !cloexec(t, fd) {
				t.Error("inherited fd not sealed")
			}
			if cloexec(t, 2) {
				t.Error("stderr sealed")
			}
		})
	}
	failing2 := func(first, last, flags uint) error { return syscall.ENOSYS }
	if err := sealFDs(failing2, "/nonexistent"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("no /proc: %v, want ENOENT", err)
	}
}
