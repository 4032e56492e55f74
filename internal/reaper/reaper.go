// Package reaper owns the process's only wait4(-1) loop.
//
// Any other waiter (os/exec's Wait, os.Process.Wait, a second reap loop)
// would race this one for the same zombies and lose exit statuses, so the
// rest of drover learns of every child's exit only from here. The loop
// follows hashicorp/go-reap: on each SIGCHLD, wait4(-1, WNOHANG) until
// nothing is left, taking a write lock around each call so that code which
// forks (holding the read lock) can register a pid before it can be reaped.
// Unlike go-reap it reports the exit status and resource usage.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// Exit is one reaped process.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
	Rusage unix.Rusage
}

// Reaper reaps every child of the process, including orphans reparented to
// it as PID 1 or as a child subreaper.
type Reaper struct {
	mu    sync.RWMutex
	sigs  chan os.Signal
	wake  chan struct{}
	empty chan struct{} // signalled after a pass that found no children at all
	wait4 func(pid int, ws *unix.WaitStatus, opts int, ru *unix.Rusage) (int, error)
}

// New subscribes to SIGCHLD at once, so that no child exit between New and
// Run is missed; Run's first pass picks up anything that died before.
func New() *Reaper {
	r := &Reaper{
		sigs:  make(chan os.Signal, 1),
		wake:  make(chan struct{}, 1),
		empty: make(chan struct{}, 1),
		wait4: unix.Wait4,
	}
	signal.Notify(r.sigs, unix.SIGCHLD)
	return r
}

// ForkLock is held (shared) by code that starts a child, from fork until the
// pid is recorded, so that a child that dies at once is not reported before
// its owner knows the pid. It also keeps the reaper away from the failed-exec
// child that os/exec waits for itself.
func (r *Reaper) ForkLock() sync.Locker { return r.mu.RLocker() }

// Run reaps until ctx ends, calling report for every reaped process, in the
// order the kernel returned them. report may block; the kernel keeps the
// zombies meanwhile, so nothing is lost.
func (r *Reaper) Run(ctx context.Context, report func(Exit)) error {
	defer signal.Stop(r.sigs)
	for {
		if err := r.pass(report); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.sigs:
		case <-r.wake:
		}
	}
}

// Wake asks for a pass without a SIGCHLD, e.g. after a caller signalled
// children it believes are gone.
func (r *Reaper) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Empty is signalled after a pass that found the process has no children left.
func (r *Reaper) Empty() <-chan struct{} { return r.empty }

// pass reaps until wait4 says no more zombies are ready (0) or no children
// exist (ECHILD). One wait4 per lock hold, so a fork never waits for a long
// burst of reaps.
func (r *Reaper) pass(report func(Exit)) error {
	for {
		var e Exit
		r.mu.Lock()
		pid, err := r.wait4(-1, &e.Status, unix.WNOHANG, &e.Rusage)
		r.mu.Unlock()
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			select {
			case r.empty <- struct{}{}:
			default:
			}
			return nil
		case err != nil:
			return fmt.Errorf("wait4: %w", err)
		case pid <= 0:
			return nil
		}
		e.Pid = pid
		report(e)
	}
}

// Code is the shell convention for a status: the exit code, or 128+signal.
func Code(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Subreaper makes this process the reaper of its orphaned descendants when
// it is not PID 1, so drover behaves the same outside a PID namespace
// (under a shell, systemd, or a test) as it does as a container's init.
func Subreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}
