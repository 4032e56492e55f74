package spawn

import (
	"strconv"
	"syscall"
)

// SignalName is the conventional name ("SIGTERM"), used in logs and as the
// metric label for forwarded signals.
func SignalName(sig syscall.Signal) string {
	if n, ok := signalNames()[sig]; ok {
		return n
	}
	return "SIG" + strconv.Itoa(int(sig))
}

// ParseSignal reads a signal name with or without the SIG prefix, or a number.
func ParseSignal(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	if len(s) < 3 || s[:3] != "SIG" {
		s = "SIG" + s
	}
	for sig, name := range signalNames() {
		if name == s {
			return sig, true
		}
	}
	return 0, false
}

// signalNames is the standard Linux signals (a function, so no package
// state can be changed by anyone).
func signalNames() map[syscall.Signal]string {
	return map[syscall.Signal]string{
		syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
		syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
		syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
		syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
		syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
		syscall.SIGSTKFLT: "SIGSTKFLT", syscall.SIGCHLD: "SIGCHLD", syscall.SIGCONT: "SIGCONT",
		syscall.SIGSTOP: "SIGSTOP", syscall.SIGTSTP: "SIGTSTP", syscall.SIGTTIN: "SIGTTIN",
		syscall.SIGTTOU: "SIGTTOU", syscall.SIGURG: "SIGURG", syscall.SIGXCPU: "SIGXCPU",
		syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGVTALRM: "SIGVTALRM", syscall.SIGPROF: "SIGPROF",
		syscall.SIGWINCH: "SIGWINCH", syscall.SIGIO: "SIGIO", syscall.SIGPWR: "SIGPWR",
		syscall.SIGSYS: "SIGSYS",
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
