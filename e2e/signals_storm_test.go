package e2e

import (
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSignalStorm: 1,000 mixed signals against a pool whose workers keep
// starting while they fly. Each round adds a worker (TTIN) and storms it
// while it starts: its program waits SIG_DELAY before installing handlers,
// so a HUP or QUIT forwarded before it said READY=1 would kill it. After
// the storm the pool is as it was: the same workers, drover alive and
// answering /status, and no worker ended by a signal drover forwarded.
func TestSignalStorm(t *testing.T) {
	require(t, "root")
	const workers, rounds, perRound = 3, 5, 200
	d := start(t, opts{pidns: true, health: true, env: []string{
		"DROVER_WORKERS=3", "DROVER_READY=notify", "DROVER_HUP=forward", "DROVER_DRAIN_DELAY=0s",
	}}, append([]string{"-v", "--"}, workerArgs(t, "sig-record", "SIG_READY=1", "SIG_QUIET=1", "SIG_DELAY=50ms")...)...)
	d.waitStatus("every worker ready", 30*time.Second, readyIs(workers))

	mix := []syscall.Signal{unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGHUP, unix.SIGQUIT}
	sent := 0
	for r := 1; r <= rounds; r++ {
		d.signal(unix.SIGTTIN)
		d.waitLog(`adding a worker`, r, 15*time.Second)
		for i := 0; i < perRound; i++ {
			d.signal(mix[sent%len(mix)])
			sent++
			// Spread over the new worker's start rather than all at once
			// before it forks: pacing, not waiting for anything.
			time.Sleep(300 * time.Microsecond)
		}
		d.waitLog(`worker ready`, workers+r, 30*time.Second)
		d.signal(unix.SIGTTOU)
		d.waitLog(`removing a worker`, r, 15*time.Second)
	}
	t.Logf("%d signals sent, %d workers started", sent, d.count(`worker started`))

	s := d.waitStatus("the pool back at its size", 30*time.Second, func(s statusDoc) bool {
		return s.Desired == workers && s.Ready == workers && len(s.Workers) == workers
	})
	if killed := d.count(`status="signal SIG(USR1|USR2|WINCH|HUP|QUIT)"`); killed > 0 {
		t.Errorf("%d workers were killed by a forwarded signal", killed)
	}
	if n := d.count(`restarting|giving up`); n > 0 {
		t.Errorf("%d worker failures during the storm", n)
	}
	if got, want := d.count(`worker started`), workers+rounds; got != want {
		t.Errorf("%d workers started, want %d (the pool's %d and one per round)", got, want, workers)
	}
	for _, sig := range mix {
		if s.Signals[unix.SignalName(sig)] == 0 {
			t.Errorf("/status counts no forwarded %s: %v", unix.SignalName(sig), s.Signals)
		}
	}
	d.stop()
	d.noStackDump()
}
