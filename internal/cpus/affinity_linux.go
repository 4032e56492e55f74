package cpus

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxAffinityBytes bounds the buffer growth: 2^22 CPUs is far beyond any
// kernel's NR_CPUS, so EINVAL at that size means something else is wrong.
const maxAffinityBytes = 1 << 19

// Affinity counts the CPUs in the calling thread's affinity mask. The mask is
// what cpusets and the Kubernetes static CPU manager actually restrict, and
// unlike unix.SchedGetaffinity it is not cut off at 1024 CPUs: the kernel
// refuses (EINVAL) a buffer shorter than its CPU count, so the buffer doubles
// until it fits.
func Affinity() (int, error) {
	for size := 1024 / 8; size <= maxAffinityBytes; size *= 2 {
		buf := make([]byte, size)
		n, _, errno := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, 0, uintptr(size), uintptr(unsafe.Pointer(&buf[0])))
		runtime.KeepAlive(buf)
		if errno == unix.EINVAL {
			continue
		}
		if errno != 0 {
			return 0, fmt.Errorf("sched_getaffinity: %w", errno)
		}
		count := 0
		for _, b := range buf[:min(int(n), size)] {
			count += bits.OnesCount8(b)
		}
		if count == 0 {
			return 0, errors.New("sched_getaffinity: empty CPU mask")
		}
		return count, nil
	}
	return 0, fmt.Errorf("sched_getaffinity: CPU mask larger than %d bits", maxAffinityBytes*8)
}
