package reaper

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

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
		r.signalAll(unix.SIGKILL, 5*time.Second)
	}
	return len(left)
}

// signalAll sends sig until no child is left or the time is up, and says
// whether none is left.
func (r *Reaper) signalAll(sig unix.Signal, within time.Duration) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	signalled := map[int]bool{}
	for {
		kids := r.children()
		if len(kids) == 0 {
			return true
		}
		if os.Getpid() == 1 {
			if len(signalled) == 0 {
				_ = unix.Kill(-1, sig)
				signalled[-1] = true
			}
		} else {
			for _, pid := range kids {
				if !signalled[pid] {
					_ = unix.Kill(pid, sig)
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

// children lists live (not yet exited) children of this process. Zombies are
// left out: they are gone, and the reap loop collects them.
func (r *Reaper) children() []int {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		ppid, state, ok := statParent(filepath.Join("/proc", e.Name(), "stat"))
		if ok && ppid == self && state != 'Z' && state != 'X' {
			kids = append(kids, pid)
		}
	}
	return kids
}

// statParent reads the state and ppid from /proc/PID/stat. The command name
// may hold spaces and parentheses, so fields are counted after the last ')'.
func statParent(path string) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return ppid, f[0][0], err == nil
}
