// Package reaper owns the process's only wait4(-1) loop.
//
// Any other waiter (os/exec's Wait, os.Process.Wait, a second reap loop)
// would race this one for the same zombies and lose exit statuses, so the
// rest of drover learns of every child's exit only from here. The loop
// follows hashicorp/go-reap: on each SIGCHLD, wait4(-1, WNOHANG) until
// nothing is left, under a write lock that code which forks holds shared,
// so that a pid is registered before it can be reaped. Unlike go-reap it
// reports the exit status and resource usage.
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

// batch bounds how many zombies one lock hold collects. Taking the lock
// once per zombie doubled PID 1's cost in a burst of orphans; holding it for
// a whole burst would make a fork wait for thousands of wait4 calls. 64
// calls take tens of microseconds, well below the cost of the fork itself.
const batch = 64

// Reaper reaps every child of the process, including orphans reparented to
// it as PID 1 or as a child subreaper.
type Reaper struct {
	mu    sync.RWMutex
	sigs  chan os.Signal
	wake  chan struct{}
	empty chan struct{} // signalled after a pass that found no children at all
	sys   sys
	buf   []Exit // reused by pass; only the Run goroutine touches it
}

// sys is everything the reaper asks of the kernel, so that the policy
// (batching, Cleanup's TERM-then-KILL) is tested without real processes.
type sys struct {
	wait4 func(pid int, ws *unix.WaitStatus, opts int, ru *unix.Rusage) (int, error)
	kill  func(pid int, sig unix.Signal) error
	// children lists live (not zombie) direct children.
	children func() ([]int, error)
	// init: PID 1 of a namespace, where kill(-1) reaches every process in
	// it and orphans of any depth are ours.
	init bool
}

func realSys() sys {
	return sys{
		wait4:    unix.Wait4,
		kill:     unix.Kill,
		children: childless(procChildren{proc: "/proc", self: os.Getpid()}.list),
		init:     os.Getpid() == 1,
	}
}

// childless answers "none" with one waitid instead of reading /proc when the
// process has no child at all, live or zombie: the common case at exit,
// which `drover -- true` pays on every run.
func childless(list func() ([]int, error)) func() ([]int, error) {
	return func() ([]int, error) {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.ECHILD) {
			return nil, nil
		}
		return list()
	}
}

// New subscribes to SIGCHLD at once, so that no child exit between New and
// Run is missed; Run's first pass picks up anything that died before.
func New() *Reaper {
	r := newReaper(realSys())
	signal.Notify(r.sigs, unix.SIGCHLD)
	return r
}

func newReaper(s sys) *Reaper {
	return &Reaper{
		sigs:  make(chan os.Signal, 1),
		wake:  make(chan struct{}, 1),
		empty: make(chan struct{}, 1),
		sys:   s,
		buf:   make([]Exit, 0, batch),
	}
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
	return r.RunBatches(ctx, each(report))
}

// RunBatches is Run for a receiver that takes exits in batches (up to 64, as
// collected under one lock hold), e.g. to hand a burst of orphans to another
// goroutine in one message instead of one per pid. The slice is reused
// after report returns.
func (r *Reaper) RunBatches(ctx context.Context, report func([]Exit)) error {
	defer signal.Stop(r.sigs)
	for {
		if _, err := r.pass(report); err != nil {
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
// exist (ECHILD), and says how many it reaped. Reports happen outside the lock, so a slow report never
// holds up a fork.
func (r *Reaper) pass(report func([]Exit)) (int, error) {
	n := 0
	for {
		done, err := r.collect()
		if len(r.buf) > 0 {
			report(r.buf)
		}
		n += len(r.buf)
		if err != nil || done {
			return n, err
		}
	}
}

func each(report func(Exit)) func([]Exit) {
	return func(es []Exit) {
		for _, e := range es {
			report(e)
		}
	}
}

// collect reaps up to batch zombies into r.buf under one lock hold. done is
// true when the pass is over: nothing more is ready, or nothing is left.
func (r *Reaper) collect() (done bool, err error) {
	r.buf = r.buf[:0]
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) < batch {
		var e Exit
		pid, err := r.sys.wait4(-1, &e.Status, unix.WNOHANG, &e.Rusage)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			select {
			case r.empty <- struct{}{}:
			default:
			}
			return true, nil
		case err != nil:
			return true, fmt.Errorf("wait4: %w", err)
		case pid <= 0:
			return true, nil
		}
		e.Pid = pid
		r.buf = append(r.buf, e)
	}
	return false, nil
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
