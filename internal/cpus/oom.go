package cpus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OOMKills reads how many processes the kernel's OOM killer has killed in
// drover's own memory cgroup: the oom_kill counter of memory.events on
// cgroup v2, of memory.oom_control on v1 (Linux 4.13 and later). Workers
// live in drover's cgroup, so a worker the OOM killer chose is counted
// there, whichever level's limit was hit. ok is false when no memory
// cgroup of drover's has the counter (no memory controller, an older
// kernel, no /proc); file names the file read.
//
// Like Budget it finds the cgroup afresh on every call, so a move is
// followed; it is meant to be called when a worker died of SIGKILL, not
// periodically.
func (r Reader) OOMKills() (kills uint64, file string, ok bool) {
	w := &warner{fn: r.Warn}
	r.eachLeafFile(r.layout(w), w, "memory", "memory.oom_control", "memory.events", func(_ hierarchy, name, f, data string) bool {
		n, err := parseOOMKill(data)
		switch {
		case errors.Is(err, errNoOOMKill):
			return false // a kernel before 4.13: nothing to report, nothing wrong
		case err != nil:
			w.skip(name, f, err)
			return false
		}
		kills, file, ok = n, f, true
		return true
	})
	return kills, file, ok
}

// errNoOOMKill: the file has no oom_kill line (v1 before Linux 4.13).
var errNoOOMKill = errors.New("no oom_kill counter")

// parseOOMKill finds "oom_kill N" among the "key value" lines of
// memory.events or memory.oom_control. oom_group_kill is another counter.
func parseOOMKill(data string) (uint64, error) {
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || k != "oom_kill" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || v == "" || v[0] < '0' || v[0] > '9' {
			return 0, garbage("a count after oom_kill", line)
		}
		return n, nil
	}
	return 0, errNoOOMKill
}

// OOMWatch tells whether the OOM killer struck since the last look. It is
// not safe for concurrent use: one goroutine (the reaper's callback) owns
// it.
type OOMWatch struct {
	r    Reader
	last uint64
	ok   bool
}

// NewOOMWatch takes the counter as it is now, so kills before drover
// started are never blamed on a worker.
func NewOOMWatch(r Reader) *OOMWatch {
	w := &OOMWatch{r: r}
	w.last, _, w.ok = r.OOMKills()
	return w
}

// Killed reports how many OOM kills the cgroup has counted since the last
// call (or NewOOMWatch), and when there were any, the memory limit that
// applies, as the log should name it ("memory limit 96Mi: cgroup v1
// memory.limit_in_bytes 100663296 at /sys/fs/cgroup/memory/x"). A counter
// that went down (a new cgroup after a move) counts from its new value.
func (w *OOMWatch) Killed() (kills uint64, limit string) {
	n, file, ok := w.r.OOMKills()
	if !ok {
		w.ok = false
		return 0, ""
	}
	if w.ok && n > w.last {
		kills = n - w.last
	}
	w.last, w.ok = n, true
	if kills == 0 {
		return 0, ""
	}
	if bytes, src, ok := w.r.MemoryLimit(); ok {
		return kills, fmt.Sprintf("memory limit %s: %s", formatBytes(bytes), src)
	}
	return kills, "counted in " + file
}
