package cpus

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// pidsPerWorker: a worker may hold two pids at once while it starts
	// (the exec shim and its fork, or a worker and its replacement).
	pidsPerWorker = 2
	// pidsReserve stays free for drover's own threads and its helpers; a
	// pool that takes the last pid leaves PID 1 unable to create a thread.
	pidsReserve = 16
)

// Limit is an upper bound on workers and what sets it.
type Limit struct {
	Workers int
	// Reason names the limit and where it was read, e.g. "pids.max 300
	// (12 in use) at /sys/fs/cgroup/pids/x".
	Reason string
}

// WorkerLimit is how many more workers the container can hold: the pids
// cgroup (pids.max minus pids.current at every level, v1 and v2), the
// RLIMIT_NPROC of a non-root user, and most (drover's own cap), each after reserving
// pids for drover itself. At start, with no worker running, it is the
// upper bound on the pool; later, it is the room left for adding workers.
// Threads count as pids, so a worker with many threads needs more than this
// bound assumes: it prevents absurd counts, it does not promise a fit.
func (r Reader) WorkerLimit(most int) Limit {
	w := &warner{fn: r.Warn}
	best := Limit{Workers: most, Reason: fmt.Sprintf("drover's cap of %d", most)}
	lay := r.layout(w)
	for _, h := range lay.hierarchies("pids", w) {
		for _, dir := range h.levels {
			if l, ok := r.pidsLevel(dir, w); ok && l.Workers < best.Workers {
				best = l
			}
		}
	}
	nproc := r.Nproc
	if nproc == nil {
		nproc = realNproc
	}
	if n, ok := nproc(); ok {
		if l := fromPids(int64(min(n, 1<<40)), 0); l < best.Workers {
			best = Limit{Workers: l, Reason: fmt.Sprintf("RLIMIT_NPROC %d (ulimit -u)", n)}
		}
	}
	return best
}

// pidsLevel reads one cgroup's pids.max and pids.current. A level without
// pids.max (the root, or v2 without the pids controller) sets no limit.
func (r Reader) pidsLevel(dir string, w *warner) (Limit, bool) {
	file := dir + "/pids.max"
	data, ok := r.readLevelFile(file, w)
	if !ok {
		return Limit{}, false
	}
	max, err := parsePidsMax(data)
	if errors.Is(err, errNoLimit) {
		return Limit{}, false
	}
	if err != nil {
		w.skip("pids.max", file, err)
		return Limit{}, false
	}
	var cur int64
	cfile := dir + "/pids.current"
	if data, ok := r.readLevelFile(cfile, w); ok {
		if cur, err = parseDecimal(strings.TrimSpace(data)); err != nil {
			w.skip("pids.current", cfile, err)
			cur = 0
		}
	}
	return Limit{
		Workers: fromPids(max, cur),
		Reason:  fmt.Sprintf("pids.max %d (%d in use) at %s", max, cur, dir),
	}, true
}

// fromPids turns free pids into workers, never below 0.
func fromPids(max, cur int64) int {
	free := max - cur - pidsReserve
	if free < pidsPerWorker {
		return 0
	}
	return int(min(free/pidsPerWorker, maxWorkers))
}

func parsePidsMax(data string) (int64, error) {
	s := strings.TrimSpace(data)
	if s == "max" {
		return 0, errNoLimit
	}
	return parseDecimal(s)
}

// realNproc: RLIMIT_NPROC is not enforced for root (or CAP_SYS_RESOURCE /
// CAP_SYS_ADMIN); for everyone else it caps the user's processes.
func realNproc() (uint64, bool) {
	if os.Geteuid() == 0 {
		return 0, false
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return 0, false
	}
	return rl.Cur, true
}
