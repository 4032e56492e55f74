// Package usage reads what workers cost (resident memory and CPU time) from
// /proc, for the metrics, `drover status` and DROVER_MAX_MEMORY.
//
// It reads only the workers' own process trees, found from each worker down
// through /proc/PID/task/TID/children, never by listing /proc: PID 1 of a
// container often shares a host PID namespace or a node with thousands of
// processes, and what it costs to look at four workers must not grow with
// them.
package usage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/drover-init/drover/internal/kfile"
	"github.com/prometheus/procfs"
)

// maxProcs bounds how many processes one Read visits in all, so that a
// fork bomb inside a worker cannot turn a /metrics scrape into a long walk.
const maxProcs = 1 << 14

// userHZ is the unit of utime and stime in /proc/PID/stat: 100 on every
// architecture Linux and Go support, whatever the kernel's CONFIG_HZ.
const userHZ = 100

// Usage is what one worker costs, summed over its process tree. Its shape
// matches the pool's usage type so main converts one into the other
// without copying field by field.
type Usage struct {
	RSS        int64   // bytes
	CPUSeconds float64 // user+sys
}

// Reader reads usage from one proc filesystem.
type Reader struct {
	root string
	fs   procfs.FS
}

// New returns a Reader of procRoot: "/proc", or a fixture tree in tests.
func New(procRoot string) (*Reader, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("reading worker usage: %w", err)
	}
	return &Reader{root: procRoot, fs: fs}, nil
}

// Read sums RSS and CPU time over the process tree of each pid: the worker
// and everything it forked and has not disowned (a shell wrapper's real
// server, a pre-fork pool). Counting the worker alone would report a few
// KiB of shell.
//
// Only workers whose own stat could be read appear in the result. Children
// that exit mid-walk, or whose files cannot be read or parsed, are skipped:
// reading /proc races with every exit, and a partial figure for one scrape
// beats none.
func (r *Reader) Read(pids []int) map[int]Usage {
	out := make(map[int]Usage, len(pids))
	seen := make(map[int]bool, len(pids))
	budget := maxProcs
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		var u Usage
		var ticks uint // summed as integers, divided once, so sums are exact
		found := false
		stack := []int{pid}
		for len(stack) > 0 && budget > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[p] {
				continue
			}
			seen[p] = true
			budget--
			st, err := r.stat(p)
			if err != nil {
				if p == pid {
					break // the worker itself is gone: no figure at all
				}
				continue
			}
			found = true
			u.RSS += int64(st.ResidentMemory())
			ticks += st.UTime + st.STime
			stack = r.children(p, stack)
		}
		if found {
			u.CPUSeconds = float64(ticks) / userHZ
			out[pid] = u
		}
	}
	return out
}

func (r *Reader) stat(pid int) (procfs.ProcStat, error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// children appends pid's children to to. The kernel lists a child under the
// thread that forked it, so every thread's file is read: a Node or JVM
// worker spawns from helper threads.
func (r *Reader) children(pid int, to []int) []int {
	taskDir := filepath.Join(r.root, strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(taskDir)
	if err != nil {
		return to
	}
	for _, t := range tasks {
		data, err := kfile.Read(filepath.Join(taskDir, t.Name(), "children"), kfile.MaxChildren)
		if err != nil {
			continue // a thread ending mid-walk, or a kernel without CONFIG_PROC_CHILDREN
		}
		for _, f := range strings.Fields(string(data)) {
			if c, err := strconv.Atoi(f); err == nil && c > 0 {
				to = append(to, c)
			}
		}
	}
	return to
}
