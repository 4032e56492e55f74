package spawn

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// sigrtmin is glibc's SIGRTMIN, the name real-time signals are counted
// from in logs (see "Signals 32–34" in docs/design.md).
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
