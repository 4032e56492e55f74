package main

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Signals drover takes but never passes on: SIGCHLD belongs to the reaper and
// SIGURG to the Go runtime's goroutine preemption. SIGKILL and SIGSTOP cannot
// be caught. 32 to 34 cannot be delivered to a channel (see "Signals 32–34"
// in docs/design.md; setUncatchable keeps them from ending PID 1).
func notForwarded(sig syscall.Signal) bool {
	switch sig {
	case unix.SIGCHLD, unix.SIGURG, unix.SIGKILL, unix.SIGSTOP, 32, 33, 34:
		return true
	}
	return false
}

// sigRTMax is the highest signal number on Linux.
const sigRTMax = 64

// catchable is every signal drover subscribes to: 1–31 and the real-time
// range, so that none can end PID 1 with its default action or be lost.
// (main leaves out those inherited as ignored: see launch.Inherited.)
// SIGPROF is in the list but the Go runtime keeps it for its profiler and
// never delivers it (nor dies of it).
func catchable() []os.Signal {
	var out []os.Signal
	for n := 1; n <= sigRTMax; n++ {
		sig := syscall.Signal(n)
		if notForwarded(sig) {
			continue
		}
		out = append(out, sig)
	}
	return out
}

// splitRealtime separates the standard signals from the real-time ones.
func splitRealtime(sigs []os.Signal) (std, rt []os.Signal) {
	for _, s := range sigs {
		if n, ok := s.(syscall.Signal); ok && n >= 32 {
			rt = append(rt, s)
		} else {
			std = append(std, s)
		}
	}
	return std, rt
}

// sigaction is the kernel's struct for rt_sigaction on Linux.
type sigaction struct {
	handler, flags, restorer uintptr
	mask                     uint64
}

// setUncatchable sets signals 32 and 34 to SIG_IGN (ignore) or back to
// SIG_DFL: their default action would end drover when it is not PID 1.
// Workers must not inherit the ignore (under tini they start with the
// default), so the starter puts the default back around each fork. 33 is
// the runtime's. See "Signals 32–34" in docs/design.md. It reports whether both were at
// their default before, i.e. whether drover may switch them back and forth.
func setUncatchable(ignore bool) (wereDefault bool) {
	var h uintptr // SIG_DFL
	if ignore {
		h = 1 // SIG_IGN
	}
	wereDefault = true
	for _, n := range []uintptr{32, 34} {
		sa, old := sigaction{handler: h}, sigaction{}
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, n, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if e != 0 || old.handler != 0 {
			wereDefault = false
		}
	}
	return wereDefault
}

// action is what drover does with a signal it received.
type action int

const (
	actForward   action = iota // to every worker (plain init: the child)
	actDrain                   // pool: graceful shutdown with DROVER_DRAIN_DELAY
	actStop                    // plain init: forward unchanged and start the stop timer
	actReload                  // rolling reload
	actScaleUp                 // one worker more
	actScaleDown               // one worker less
	actJobStop                 // plain init: to the child's process group, then stop drover
	actContinue                // plain init: resume the child's process group
)

// decide is the signal table of README.md, in one place. pool is false for
// plain-init mode; hupReload is DROVER_HUP=reload.
func decide(sig syscall.Signal, pool, hupReload bool) action {
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		if pool {
			return actDrain
		}
		return actStop
	case unix.SIGHUP:
		if hupReload {
			return actReload
		}
	case unix.SIGTTIN:
		if pool {
			return actScaleUp
		}
		return actJobStop
	case unix.SIGTTOU:
		if pool {
			return actScaleDown
		}
		return actJobStop
	case unix.SIGTSTP:
		if !pool {
			return actJobStop
		}
	case unix.SIGCONT:
		if !pool {
			return actContinue
		}
	}
	return actForward
}

// stopSelf suspends drover after its child's process group was stopped, as
// dumb-init does, so a shell's job control sees the whole job stop. PID 1
// cannot be stopped from inside its namespace, and must not try: the
// kernel ignores the SIGSTOP but still discards a SIGCONT pending for
// drover, and a CONT that arrived in that moment would never reach the
// child.
func stopSelf() {
	if os.Getpid() == 1 {
		return
	}
	_ = unix.Kill(os.Getpid(), unix.SIGSTOP)
}
