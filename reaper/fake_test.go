package reaper

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeKernel is a process table for the policy tests: zombies waiting for
// wait4, live children, and a record of every signal sent.
type fakeKernel struct {
	mu      sync.Mutex
	zombies []int
	kids    []int
	waitErr []error // returned (and consumed) before looking at zombies
	calls   int     // wait4 calls
	sent    []sent
	// onKill decides what a signal does to the table; nil: the target dies
	// and becomes a zombie.
	onKill func(k *fakeKernel, pid int, sig unix.Signal)
	// childrenErr makes children() fail.
	childrenErr error
	// reparent is appended to kids the first time children() is called
	// after a signal, like an orphan arriving late.
	reparent []int
}

type sent struct {
	pid int
	sig unix.Signal
}

func (k *fakeKernel) sys(init bool) sys {
	return sys{wait4: k.wait4, kill: k.kill, children: k.children, init: init}
}

func (k *fakeKernel) wait4(pid int, ws *unix.WaitStatus, opts int, ru *unix.Rusage) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	if pid != -1 || opts != unix.WNOHANG {
		return 0, errors.New("unexpected wait4 arguments")
	}
	if len(k.waitErr) > 0 {
		err := k.waitErr[0]
		k.waitErr = k.waitErr[1:]
		return -1, err
	}
	if len(k.zombies) > 0 {
		p := k.zombies[0]
		k.zombies = k.zombies[1:]
		*ws = unix.WaitStatus(p % 256 << 8) // exit code pid%256
		return p, nil
	}
	if len(k.kids) == 0 {
		return -1, unix.ECHILD
	}
	return 0, nil
}

func (k *fakeKernel) kill(pid int, sig unix.Signal) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sent = append(k.sent, sent{pid, sig})
	if k.onKill != nil {
		k.onKill(k, pid, sig)
		return nil
	}
	k.die(pid)
	return nil
}

// die turns pid (or, for -1, every child) into a zombie.
func (k *fakeKernel) die(pid int) {
	keep := k.kids[:0]
	for _, c := range k.kids {
		if pid == -1 || c == pid {
			k.zombies = append(k.zombies, c)
		} else {
			keep = append(keep, c)
		}
	}
	k.kids = keep
}

func (k *fakeKernel) children() ([]int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.childrenErr != nil {
		return nil, k.childrenErr
	}
	if len(k.sent) > 0 && k.reparent != nil {
		k.kids = append(k.kids, k.reparent...)
		k.reparent = nil
	}
	return append([]int(nil), k.kids...), nil
}

func (k *fakeKernel) signals() []sent {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sent(nil), k.sent...)
}

// runFake starts Run on r and returns a function that waits (bounded) for
// n reports, stops Run and returns every reported exit.
func runFake(t *testing.T, r *Reaper) func(n int) []Exit {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []Exit
	reported := make(chan struct{}, 1024)
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(e Exit) {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
			reported <- struct{}{}
		})
	}()
	stopped := false
	stop := func(n int) []Exit {
		for i := 0; i < n; i++ {
			select {
			case <-reported:
			case <-time.After(10 * time.Second):
				t.Errorf("only %d of %d exits reported", i, n)
				n = 0
			}
		}
		if !stopped {
			stopped = true
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]Exit(nil), got...)
	}
	t.Cleanup(func() { stop(0) })
	return stop
}
