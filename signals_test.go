package main

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The signal table of README.md, row by row, in both modes.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		sig             syscall.Signal
		plain, pool     action
		plainR, poolFwd action // with DROVER_HUP=reload in plain mode, =forward in a pool
	}{
		{unix.SIGTERM, actStop, actDrain, actStop, actDrain},
		{unix.SIGINT, actStop, actDrain, actStop, actDrain},
		{unix.SIGHUP, actForward, actReload, actReload, actForward},
		{unix.SIGTTIN, actJobStop, actScaleUp, actJobStop, actScaleUp},
		{unix.SIGTTOU, actJobStop, actScaleDown, actJobStop, actScaleDown},
		{unix.SIGTSTP, actJobStop, actForward, actJobStop, actForward},
		{unix.SIGCONT, actContinue, actForward, actContinue, actForward},
		{unix.SIGUSR1, actForward, actForward, actForward, actForward},
		{unix.SIGSEGV, actForward, actForward, actForward, actForward},
		{syscall.Signal(40), actForward, actForward, actForward, actForward},
	} {
		if got := decide(tc.sig, false, false); got != tc.plain {
			t.Errorf("plain init, %v: %v, want %v", tc.sig, got, tc.plain)
		}
		if got := decide(tc.sig, true, true); got != tc.pool {
			t.Errorf("pool, %v: %v, want %v", tc.sig, got, tc.pool)
		}
		if got := decide(tc.sig, false, true); got != tc.plainR {
			t.Errorf("plain init with DROVER_HUP=reload, %v: %v, want %v", tc.sig, got, tc.plainR)
		}
		if got := decide(tc.sig, true, false); got != tc.poolFwd {
			t.Errorf("pool with DROVER_HUP=forward, %v: %v, want %v", tc.sig, got, tc.poolFwd)
		}
	}
}

// Every signal that can be caught is subscribed, but never CHLD (the
// reaper's), URG (the runtime's), or the runtime's 32–34; real-time ones
// are split off for the lazy subscription.
func TestCatchable(t *testing.T) {
	got := map[os.Signal]bool{}
	for _, s := range catchable() {
		got[s] = true
	}
	for _, never := range []syscall.Signal{unix.SIGCHLD, unix.SIGURG, unix.SIGKILL, unix.SIGSTOP, 32, 33, 34} {
		if got[never] {
			t.Errorf("%v subscribed", never)
		}
	}
	for _, want := range []syscall.Signal{unix.SIGABRT, unix.SIGSEGV, unix.SIGPIPE, unix.SIGTSTP, unix.SIGPWR, 35, 64} {
		if !got[want] {
			t.Errorf("%v not subscribed", want)
		}
	}
	std, rt := splitRealtime(catchable())
	if len(std)+len(rt) != len(got) || len(rt) != 30 {
		t.Errorf("%d standard + %d real-time, want 30 real-time of %d", len(std), len(rt), len(got))
	}
}
