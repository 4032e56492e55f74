package reaper

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A burst of zombies is collected in batches: every exit is reported, in the
// kernel's order, the lock is held around every wait4, and each batch is
// reported before the next one is collected (so reports never hold a fork).
func TestPassBatchesUnderTheLock(t *testing.T) {
	k := &fakeKernel{}
	for p := 1; p <= 3*batch+5; p++ {
		k.zombies = append(k.zombies, 1000+p)
	}
	want := append([]int(nil), k.zombies...)
	r := newReaper(k.sys(false))
	unlocked := 0
	inner := k.sys(false).wait4
	r.sys.wait4 = func(pid int, ws *unix.WaitStatus, opts int, ru *unix.Rusage) (int, error) {
		if r.mu.TryRLock() {
			r.mu.RUnlock()
			unlocked++
		}
		return inner(pid, ws, opts, ru)
	}
	var got []int
	var callsAtReport []int
	n, err := r.pass(each(func(e Exit) {
		got = append(got, e.Pid)
		callsAtReport = append(callsAtReport, k.calls)
		if c := exitCode(e.Status); c != e.Pid%256 {
			t.Errorf("pid %d: code %d, want %d", e.Pid, c, e.Pid%256)
		}
	}))
	if err != nil || n != len(want) {
		t.Fatalf("pass = %d, %v; want %d", n, err, len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	if unlocked > 0 {
		t.Errorf("%d wait4 calls without the write lock", unlocked)
	}
	for i, c := range callsAtReport {
		if wantCalls := (i/batch + 1) * batch; i < 3*batch && c != wantCalls {
			t.Fatalf("report %d came after %d wait4 calls, want %d (one batch at a time)", i, c, wantCalls)
		}
	}
	select {
	case <-r.Empty():
	default:
		t.Error("Empty not signalled after wait4 said ECHILD")
	}
}

// While a forker holds the fork lock, no wait4 happens at all.
func TestForkLockHoldsOffTheReaper(t *testing.T) {
	k := &fakeKernel{zombies: []int{7}}
	r := newReaper(k.sys(false))
	lock := r.ForkLock()
	lock.Lock()
	reported := make(chan int, 1)
	go func() { _, _ = r.pass(each(func(e Exit) { reported <- e.Pid })) }()
	// The pass must block on the lock; give it a bounded chance to (wrongly)
	// get through.
	select {
	case pid := <-reported:
		t.Fatalf("pid %d reported while the fork lock was held", pid)
	case <-time.After(50 * time.Millisecond):
	}
	k.mu.Lock()
	calls := k.calls
	k.mu.Unlock()
	if calls != 0 {
		t.Errorf("%d wait4 calls while the fork lock was held", calls)
	}
	lock.Unlock()
	select {
	case pid := <-reported:
		if pid != 7 {
			t.Errorf("reported %d, want 7", pid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing reported after the fork lock was released")
	}
}

func TestPassRetriesEINTRAndStopsWhenNoneReady(t *testing.T) {
	k := &fakeKernel{waitErr: []error{unix.EINTR, unix.EINTR}, zombies: []int{5}, kids: []int{6}}
	r := newReaper(k.sys(false))
	var got []int
	if _, err := r.pass(each(func(e Exit) { got = append(got, e.Pid) })); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []int{5}) || k.calls != 4 {
		t.Errorf("reported %v after %d wait4 calls, want [5] after 4", got, k.calls)
	}
	select {
	case <-r.Empty():
		t.Error("Empty signalled although a child is alive")
	default:
	}
}

func TestRunFailsOnWait4Error(t *testing.T) {
	k := &fakeKernel{waitErr: []error{unix.EFAULT}}
	r := newReaper(k.sys(false))
	err := r.Run(t.Context(), func(Exit) {})
	if !errors.Is(err, unix.EFAULT) {
		t.Fatalf("Run = %v, want EFAULT", err)
	}
}

func TestRunWakes(t *testing.T) {
	k := &fakeKernel{kids: []int{9}}
	r := newReaper(k.sys(false))
	stop := runFake(t, r)
	// The first pass finds nothing ready; the child dies without a SIGCHLD
	// reaching the (fake) reaper, and Wake makes it look again.
	k.mu.Lock()
	k.die(9)
	k.mu.Unlock()
	r.Wake()
	r.Wake() // coalesced, never blocks
	if got := stop(1); len(got) != 1 || got[0].Pid != 9 {
		t.Errorf("reported %v, want pid 9", got)
	}
}

func TestCleanupNothingLeft(t *testing.T) {
	k := &fakeKernel{}
	r := newReaper(k.sys(false))
	if n := r.Cleanup(time.Second); n != 0 {
		t.Errorf("Cleanup = %d, want 0", n)
	}
	k.childrenErr = errors.New("no procfs")
	k.kids = []int{3}
	if n := r.Cleanup(time.Second); n != 0 {
		t.Errorf("Cleanup without a child list = %d, want 0", n)
	}
	if s := k.signals(); len(s) != 0 {
		t.Errorf("signals sent: %v", s)
	}
}

// As a subreaper: each child gets SIGTERM once, orphans that arrive later get
// theirs too, and nobody gets SIGKILL when SIGTERM works.
func TestCleanupSubreaperTerm(t *testing.T) {
	k := &fakeKernel{kids: []int{10, 11}, reparent: []int{20}}
	r := newReaper(k.sys(false))
	stop := runFake(t, r)
	if n := r.Cleanup(10 * time.Second); n != 2 {
		t.Errorf("Cleanup = %d, want 2 (the children at the start)", n)
	}
	want := []sent{{10, unix.SIGTERM}, {11, unix.SIGTERM}, {20, unix.SIGTERM}}
	if got := k.signals(); !reflect.DeepEqual(got, want) {
		t.Errorf("signals %v, want %v", got, want)
	}
	if got := stop(3); len(got) != 3 {
		t.Errorf("reaped %v, want the 3 terminated children", got)
	}
}

// A child that ignores SIGTERM gets SIGKILL after the grace period; the one
// that obeyed is not signalled again.
func TestCleanupSubreaperKillsAfterGrace(t *testing.T) {
	k := &fakeKernel{kids: []int{10, 11}, onKill: func(k *fakeKernel, pid int, sig unix.Signal) {
		if pid == 10 || sig == unix.SIGKILL {
			k.die(pid)
		}
	}}
	r := newReaper(k.sys(false))
	const grace = 60 * time.Millisecond
	start := time.Now()
	if n := r.Cleanup(grace); n != 2 {
		t.Errorf("Cleanup = %d, want 2", n)
	}
	if d := time.Since(start); d < grace {
		t.Errorf("Cleanup returned after %v, before the grace of %v", d, grace)
	}
	want := []sent{{10, unix.SIGTERM}, {11, unix.SIGTERM}, {11, unix.SIGKILL}}
	if got := k.signals(); !reflect.DeepEqual(got, want) {
		t.Errorf("signals %v, want %v", got, want)
	}
}

// As PID 1: one kill(-1) per signal, however many rounds the wait takes.
func TestCleanupInitSignalsEveryoneOnce(t *testing.T) {
	k := &fakeKernel{kids: []int{10, 11, 12}, onKill: func(k *fakeKernel, pid int, sig unix.Signal) {
		if sig == unix.SIGKILL {
			k.die(-1)
			return
		}
		k.die(10) // 11 and 12 ignore SIGTERM
	}}
	r := newReaper(k.sys(true))
	if n := r.Cleanup(80 * time.Millisecond); n != 3 {
		t.Errorf("Cleanup = %d, want 3", n)
	}
	want := []sent{{-1, unix.SIGTERM}, {-1, unix.SIGKILL}}
	if got := k.signals(); !reflect.DeepEqual(got, want) {
		t.Errorf("signals %v, want %v", got, want)
	}
}

// RunBatches hands over each lock hold's exits in one call.
func TestRunBatches(t *testing.T) {
	k := &fakeKernel{}
	for p := 1; p <= batch+1; p++ {
		k.zombies = append(k.zombies, p)
	}
	r := newReaper(k.sys(false))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sizes := make(chan int, 4)
	go func() { _ = r.RunBatches(ctx, func(es []Exit) { sizes <- len(es) }) }()
	for _, want := range []int{batch, 1} {
		select {
		case got := <-sizes:
			if got != want {
				t.Errorf("batch of %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no batch reported")
		}
	}
}
