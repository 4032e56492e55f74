package reaper

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// procChildren lists the children of process self from a procfs mounted at
// proc. The kernel keeps each thread's children in
// /proc/self/task/TID/children, so the cost is proportional to our own
// children, not to every process on the host: at exit, a drover sharing
// the host PID namespace would otherwise read thousands of stat files.
type procChildren struct {
	proc string
	self int
}

// list returns the live (not zombie) children. Zombies are left out: they
// are gone, and the reap loop collects them.
func (p procChildren) list() ([]int, error) {
	files, err := filepath.Glob(filepath.Join(p.proc, "self", "task", "*", "children"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		// Kernels built without CONFIG_PROC_CHILDREN.
		return p.scan()
	}
	var kids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited since the glob
		}
		if err != nil {
			return nil, err
		}
		for _, field := range bytes.Fields(b) {
			pid, err := strconv.Atoi(string(field))
			if err != nil || pid <= 0 {
				continue
			}
			if _, state, ok := statParent(filepath.Join(p.proc, string(field), "stat")); ok && live(state) {
				kids = append(kids, pid)
			}
		}
	}
	return kids, nil
}

// scan is the slow way: every process's stat, looking for our pid as parent.
func (p procChildren) scan() ([]int, error) {
	ents, err := os.ReadDir(p.proc)
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == p.self {
			continue
		}
		ppid, state, ok := statParent(filepath.Join(p.proc, e.Name(), "stat"))
		if ok && ppid == p.self && live(state) {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

func live(state byte) bool { return state != 'Z' && state != 'X' }

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
