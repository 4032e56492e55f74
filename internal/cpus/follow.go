package cpus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reading is one complete look at the limits that size the pool.
type Reading struct {
	Budget Budget
	// Memory is the tightest cgroup memory limit, MemoryOK false if none.
	Memory       int64
	MemorySource string
	MemoryOK     bool
}

// Read takes a Reading: Budget and MemoryLimit from the same moment.
func (r Reader) Read(millicores int64) (Reading, error) {
	b, err := r.Budget(millicores)
	if err != nil {
		return Reading{}, err
	}
	m, src, ok := r.MemoryLimit()
	return Reading{Budget: b, Memory: m, MemorySource: src, MemoryOK: ok}, nil
}

// Size turns the reading into a worker count, see Size.
func (rd Reading) Size(s Sizing) Decision {
	return Size(rd.Budget, s, rd.Memory, rd.MemoryOK)
}

// errBadCPUFile marks DROVER_CPU_FILE content that is not a millicore count.
var errBadCPUFile = errors.New("want a positive whole number of millicores like 1500")

// fileMillicores reads CPUFile. A file that is missing, empty (the kubelet
// writing it) or garbage is skipped with a warning: the other limits still
// hold, and a wrong number here would be worse than none.
func (r Reader) fileMillicores(w *warner) (int64, bool) {
	if r.CPUFile == "" {
		return 0, false
	}
	data, err := r.readAbs(r.CPUFile) // its error names the file
	if err == nil {
		var m int64
		if m, err = parseMillicores(data); err == nil {
			return m, true
		}
		err = fmt.Errorf("%s: %w", r.CPUFile, err)
	}
	w.warn("DROVER_CPU_FILE", fmt.Sprintf("ignoring DROVER_CPU_FILE %v", err))
	return 0, false
}

func parseMillicores(data string) (int64, error) {
	s := strings.TrimSpace(data)
	if s == "" {
		return 0, fmt.Errorf("empty: %w", errBadCPUFile)
	}
	m, err := strconv.ParseInt(s, 10, 64)
	if err != nil || m <= 0 || s[0] == '+' {
		return 0, fmt.Errorf("%q: %w", clip(s), errBadCPUFile)
	}
	return m, nil
}

// MinShrinkDwell is how long a lower budget must hold, reading after
// reading, before the pool shrinks to it. It is the default recheck
// period, so at the default nothing changes (two readings that agree),
// and no recheck setting can make a pool stop a worker more often than
// once per dwell: a quota that flaps faster than this keeps the larger
// pool.
const MinShrinkDwell = 10 * time.Second

// Follower decides when the pool follows a new budget. Growing happens on
// the first reading that asks for more workers: a resize up is what the
// operator wanted, and a moment of overload costs more than a spare worker.
// Shrinking waits until every reading over a dwell period agrees on the
// same lower count: the dwell is the recheck interval, and at least
// MinShrinkDwell. Counting readings alone is not enough: at a short
// recheck, two readings a few milliseconds apart can agree by chance on a
// quota that flips every few milliseconds, and the pool would stop and
// start workers at the quota's pace.
//
// It is pure: no clock, no I/O; the caller feeds it readings and the time
// each was taken.
type Follower struct {
	workers int    // what the pool was last told
	budget  string // the budget that count came from, as logged
	recheck time.Duration
	dwell   time.Duration
	lower   int       // a lower count seen, waiting to be confirmed; 0 none
	since   time.Time // when lower was first seen in this run of readings
	pinned  bool
}

// NewFollower starts from the count the pool was started with and the
// budget behind it; recheck is the period of the readings (DROVER_CPU_RECHECK).
func NewFollower(workers int, b Budget, recheck time.Duration) *Follower {
	return &Follower{workers: workers, budget: budgetText(b), recheck: recheck, dwell: max(recheck, MinShrinkDwell)}
}

// Dwell is how long a lower count must hold before the pool shrinks to it.
func (f *Follower) Dwell() time.Duration { return f.dwell }

// Workers is the count the follower last decided.
func (f *Follower) Workers() int { return f.workers }

// Pin records a manual change (TTIN/TTOU) to n workers. Periodic readings
// leave a pinned count alone: the operator's explicit choice wins over the
// budget until Apply (SIGHUP) hands control back.
func (f *Follower) Pin(n int) {
	f.workers, f.pinned, f.lower = n, true, 0
}

// Observe takes a periodic reading b taken at at and the decision sized
// from it, and returns the count the pool should have, whether that is a
// change, and when it is, one log line saying why.
//
// A shrink happens at the first reading at least a dwell, less half a
// recheck period, after the first reading of the run: "the reading
// nearest to a dwell later", so readings that arrive a little early
// because the previous one took longer still count.
func (f *Follower) Observe(at time.Time, b Budget, d Decision) (workers int, changed bool, why string) {
	if f.pinned {
		return f.workers, false, ""
	}
	switch {
	case d.Workers > f.workers:
		return f.change(b, d)
	case d.Workers < f.workers:
		if f.lower != d.Workers {
			f.lower, f.since = d.Workers, at
			break
		}
		if at.Sub(f.since) >= f.dwell-f.recheck/2 {
			return f.change(b, d)
		}
	default:
		f.lower = 0
	}
	return f.workers, false, ""
}

// Apply is an explicit re-read (SIGHUP): the new count applies at once,
// up or down, and a pinned count is released.
func (f *Follower) Apply(b Budget, d Decision) (workers int, changed bool, why string) {
	f.pinned = false
	if d.Workers == f.workers {
		f.lower, f.budget = 0, budgetText(b)
		return f.workers, false, ""
	}
	return f.change(b, d)
}

func (f *Follower) change(b Budget, d Decision) (int, bool, string) {
	old, oldBudget := f.workers, f.budget
	f.workers, f.budget, f.lower = d.Workers, budgetText(b), 0
	why := fmt.Sprintf("%d → %d workers: cpu budget was %s, now %s",
		old, d.Workers, oldBudget, strings.TrimPrefix(d.Reason, "cpu budget "))
	return f.workers, true, why
}

func budgetText(b Budget) string {
	if b.Cores == nil {
		return "unknown"
	}
	return FormatCores(b.Cores)
}
