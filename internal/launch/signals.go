package launch

import (
	"os"
	"syscall"
	"unsafe"
)

// Inherited is the part of the signal state drover was started with that a
// Go program can still see. A signal ignored by drover's parent (nohup, a
// shell's `trap ”`, a background job's INT and QUIT) must stay ignored in
// every worker, as tini and dumb-init leave it: a child inherits SIG_IGN
// across fork and exec, but only while drover never subscribes to the
// signal, since a subscription installs a handler that exec resets to
// SIG_DFL.
//
// What cannot be seen: the Go runtime installs its own handler, before any
// code of drover runs, for every signal it may need (all but HUP and INT
// among those it catches, and CONT, TSTP, TTIN, TTOU which it leaves
// alone), and keeps the inherited disposition where no exported API reads
// it. So QUIT, TERM, USR1, the real-time signals and the rest are not
// reported even when the parent ignored them. The blocked mask is passed on
// by the runtime itself for every signal a Go program may block (forked
// children get the mask of the forking thread, which started as the
// inherited one); the signals the runtime reserves (HUP INT QUIT ILL TRAP
// ABRT BUS FPE SEGV TERM STKFLT CHLD PROF SYS) are unblocked before main and
// cannot be restored.
type Inherited struct {
	// Ignored lists the signals whose disposition was SIG_IGN.
	Ignored []syscall.Signal
}

// InheritedSignals reads the inherited signal state. Call it at the very
// top of main, before anything calls signal.Notify (which would replace
// the disposition it reads).
func InheritedSignals() Inherited {
	return inheritedSignals(disposition)
}

// Signals 32 to 34 are never a user's: see "Signals 32–34" in
// docs/design.md.
func userSignal(sig syscall.Signal) bool {
	return sig != syscall.SIGKILL && sig != syscall.SIGSTOP && (sig < 32 || sig > 34)
}

func inheritedSignals(handler func(syscall.Signal) (uintptr, error)) Inherited {
	var in Inherited
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		if !userSignal(sig) {
			continue
		}
		if h, err := handler(sig); err == nil && h == sigIgn {
			in.Ignored = append(in.Ignored, sig)
		}
	}
	return in
}

// IsIgnored says whether sig was ignored when drover started.
func (in Inherited) IsIgnored(sig syscall.Signal) bool {
	for _, s := range in.Ignored {
		if s == sig {
			return true
		}
	}
	return false
}

// Filter drops the inherited-ignored signals from sigs: the list to pass
// to signal.Notify, so an ignored signal stays ignored in drover and in
// every worker.
func (in Inherited) Filter(sigs []os.Signal) []os.Signal {
	out := make([]os.Signal, 0, len(sigs))
	for _, s := range sigs {
		if n, ok := s.(syscall.Signal); ok && in.IsIgnored(n) {
			continue
		}
		out = append(out, s)
	}
	return out
}

const sigIgn = 1 // SIG_IGN

// disposition reads the handler of sig without changing it. The kernel's
// struct sigaction starts with the handler on every Linux architecture;
// four words hold the largest layout.
func disposition(sig syscall.Signal) (uintptr, error) {
	var old [4]uint64
	_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	if e != 0 {
		return 0, e
	}
	return uintptr(old[0]), nil
}
