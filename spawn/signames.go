package spawn

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// sigrtmin is the first real-time signal a program can use: glibc and musl
// keep 32 and 33 for themselves.
const sigrtmin = 34

// SignalName is the conventional name ("SIGTERM", "SIGRTMIN+3"), used in
// logs and as the metric label for forwarded signals.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	if sig >= sigrtmin && sig <= 64 {
		if sig == sigrtmin {
			return "SIGRTMIN"
		}
		return "SIGRTMIN+" + strconv.Itoa(int(sig-sigrtmin))
	}
	return "SIG" + strconv.Itoa(int(sig))
}

func itoa(n int) string { return strconv.Itoa(n) }

// ParseSignal reads a signal name with or without the SIG prefix, or a
// number. Kept only while the root config still calls it.
func ParseSignal(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	if len(s) < 3 || s[:3] != "SIG" {
		s = "SIG" + s
	}
	sig := unix.SignalNum(s)
	return sig, sig != 0
}
