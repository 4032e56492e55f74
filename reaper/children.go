package reaper

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/drover-init/drover/internal/kfile"
	"github.com/prometheus/procfs"
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
		b, err := kfile.Read(f, kfile.MaxChildren)
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
			if _, state, ok := p.stat(pid); ok && live(state) {
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
		ppid, state, ok := p.stat(pid)
		if ok && ppid == p.self && live(state) {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

func live(state byte) bool { return state != 'Z' && state != 'X' }

// stat reads the state and parent of pid, through procfs like the rest of
// drover (the command name in /proc/PID/stat may hold spaces and
// parentheses; procfs parses it once, correctly).
func (p procChildren) stat(pid int) (ppid int, state byte, ok bool) {
	fs, err := procfs.NewFS(p.proc)
	if err != nil {
		return 0, 0, false
	}
	proc, err := fs.Proc(pid)
	if err != nil {
		return 0, 0, false
	}
	st, err := proc.Stat()
	if err != nil || len(st.State) != 1 {
		return 0, 0, false
	}
	return st.PPID, st.State[0], true
}
