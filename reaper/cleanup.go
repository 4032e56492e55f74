package reaper

import (
	"time"

	"golang.org/x/sys/unix"
)

// killWithin bounds the wait after SIGKILL, which cannot be ignored; only a
// process stuck in the kernel (D state) outlives it.
const killWithin = 5 * time.Second

// pollEvery is how often Cleanup looks again for children while waiting:
// orphans reparented to us do not wake the reap loop when they arrive.
const pollEvery = 25 * time.Millisecond

// Cleanup ends every process still left once the workers are gone: daemons
// a worker forked and abandoned. They get SIGTERM, then SIGKILL after grace.
// As PID 1 that is kill(-1), every other process in the namespace, which
// also catches grandchildren whose parents are still alive; as a subreaper
// it is each direct child, repeated as orphans are reparented to us.
// Run must be reaping meanwhile. It reports how many were still there at the
// start.
func (r *Reaper) Cleanup(grace time.Duration) int {
	left := r.children()
	if len(left) == 0 {
		return 0
	}
	if !r.signalAll(unix.SIGTERM, grace) {
		r.signalAll(unix.SIGKILL, killWithin)
	}
	return len(left)
}

// signalAll sends sig until no child is left or the time is up, and says
// whether none is left. Each process gets sig once: a second SIGTERM would
// interrupt the shutdown the first one started.
func (r *Reaper) signalAll(sig unix.Signal, within time.Duration) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	signalled := map[int]bool{}
	for {
		kids := r.children()
		if len(kids) == 0 {
			return true
		}
		if r.sys.init {
			if len(signalled) == 0 {
				_ = r.sys.kill(-1, sig)
				signalled[-1] = true
			}
		} else {
			for _, pid := range kids {
				if !signalled[pid] {
					_ = r.sys.kill(pid, sig)
					signalled[pid] = true
				}
			}
		}
		r.Wake()
		select {
		case <-deadline.C:
			return false
		case <-r.empty:
		case <-tick.C:
		}
	}
}

// children lists live children; when they cannot be listed there is nothing
// Cleanup can signal, so that counts as none.
func (r *Reaper) children() []int {
	kids, err := r.sys.children()
	if err != nil {
		return nil
	}
	return kids
}
