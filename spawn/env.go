package spawn

import (
	"errors"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// env is everything the pool asks of the operating system and the clock,
// so that its policy can be tested with a fake one in milliseconds.
type env interface {
	now() time.Time
	// afterFunc calls f on its own goroutine once d has passed; f must
	// only post to the pool's owner goroutine.
	afterFunc(d time.Duration, f func()) timer
	// kill signals a worker's process group.
	kill(pid int, sig syscall.Signal) error
	// signal sends a forwarded signal to the worker process itself.
	signal(pid int, sig syscall.Signal) error
	// owners lists the pids that may own an sd_notify sender: its process
	// group leader and its ancestors, nearest first.
	owners(pid int) []int
}

type timer interface{ Stop() bool }

// osEnv is the real env.
type osEnv struct {
	proc string // procfs mount point
}

func (osEnv) now() time.Time { return time.Now() }

func (osEnv) afterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }

// kill signals the whole process group, falling back to the worker alone
// if it left its group (setsid, daemon-style apps).
func (osEnv) kill(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = syscall.Kill(pid, sig)
	}
	return err
}

func (osEnv) signal(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// owners walks /proc up from pid (at most 32 levels: a loop in a broken
// /proc must not hang PID 1).
func (e osEnv) owners(pid int) []int {
	fs, err := procfs.NewFS(e.proc)
	if err != nil {
		return nil
	}
	var out []int
	for i := 0; i < 32 && pid > 1; i++ {
		p, err := fs.Proc(pid)
		if err != nil {
			break
		}
		st, err := p.Stat()
		if err != nil {
			break
		}
		if i == 0 && st.PGRP != pid && st.PGRP > 0 {
			out = append(out, st.PGRP)
		}
		pid = st.PPID
		out = append(out, pid)
	}
	return out
}
