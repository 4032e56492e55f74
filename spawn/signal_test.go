package spawn

import (
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

func (h *harness) sigsOf(pid int) []syscall.Signal {
	h.env.mu.Lock()
	defer h.env.mu.Unlock()
	var out []syscall.Signal
	for _, s := range h.env.sigs {
		if s.pid == pid {
			out = append(out, s.sig)
		}
	}
	return out
}

const sigRT1 = syscall.Signal(sigrtmin + 1)

// A signal forwarded before the worker is ready waits for it: its program
// may not have set its handlers yet.
func TestSignalsHeldUntilReady(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		ready func(h *harness, pid int)
	}{
		{"started", Config{}, func(h *harness, pid int) { h.execd(pid) }},
		{"started with delay", Config{ReadyDelay: time.Second, StartupTimeout: time.Minute}, func(h *harness, pid int) {
			h.execd(pid)
			h.advance(time.Second - time.Millisecond)
			if got := h.sigsOf(pid); len(got) != 0 {
				h.t.Fatalf("delivered %v before the ready delay", got)
			}
			h.advance(time.Millisecond)
		}},
		{"notify", Config{ReadyNotify: true, StartupTimeout: time.Minute}, func(h *harness, pid int) {
			h.execd(pid)
			h.p.Notify(pid, map[string]string{"READY": "1"})
			h.sync()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Workers = 1
			cfg.Starter = &fakeStarter{gated: true}
			h := newHarness(t, cfg)
			pid := h.only()
			for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR1, sigRT1, sigRT1, syscall.SIGWINCH} {
				h.p.Signal(sig)
			}
			s := h.snap()
			if s.Signals["SIGUSR1"] != 2 || s.Signals["SIGRTMIN+1"] != 2 || s.Workers[0].Held != 4 {
				t.Fatalf("counts %v held %d, want USR1 once (standard signals do not queue), RT twice", s.Signals, s.Workers[0].Held)
			}
			if got := h.sigsOf(pid); len(got) != 0 {
				t.Fatalf("delivered %v before the worker was ready", got)
			}
			tc.ready(h, pid)
			want := []syscall.Signal{syscall.SIGUSR1, sigRT1, sigRT1, syscall.SIGWINCH}
			if got := h.sigsOf(pid); !slices.Equal(got, want) {
				t.Fatalf("delivered %v, want %v", got, want)
			}
			h.p.Signal(syscall.SIGUSR2)
			h.sync()
			if got := h.sigsOf(pid); len(got) != 5 || got[4] != syscall.SIGUSR2 {
				t.Fatalf("a ready worker got %v, want SIGUSR2 at once", got)
			}
			if h.worker(pid).Held != 0 {
				t.Fatal("signals still held")
			}
		})
	}
}

// Held signals are bounded, and dropped when the worker is stopped before
// it was ever ready.
func TestHeldSignalsBoundedAndDropped(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, Starter: &fakeStarter{gated: true}})
	pid := h.only()
	for i := 0; i < 3*maxHeld; i++ {
		h.p.Signal(sigRT1)
	}
	if n := h.worker(pid).Held; n != maxHeld {
		t.Fatalf("held %d, want at most %d", n, maxHeld)
	}
	h.p.Shutdown(0)
	h.p.Signal(syscall.SIGUSR1)
	h.sync()
	h.execd(pid)
	if got := h.sigsOf(pid); len(got) != 0 {
		t.Fatalf("a worker stopped before it was ready got %v", got)
	}
	h.obey()
	h.result()
}

// A worker that sent STOPPING=1 still runs its program: it gets signals.
func TestSignalToQuittingWorker(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: time.Minute})
	pid := h.only()
	h.p.Notify(pid, map[string]string{"READY": "1"})
	h.p.Notify(pid, map[string]string{"STOPPING": "1"})
	h.p.Signal(syscall.SIGUSR1)
	h.sync()
	if got := h.sigsOf(pid); !slices.Equal(got, []syscall.Signal{syscall.SIGUSR1}) {
		t.Fatalf("got %v", got)
	}
}

// A storm of 1,000 mixed signals, scales, reloads, crashes and execs: no
// worker gets a forwarded signal before it runs its program, and the pool
// ends up consistent and stops cleanly.
func TestSignalStorm(t *testing.T) {
	f := &fakeStarter{gated: true}
	h := newHarness(t, Config{Workers: 4, MaxWorkers: 8, Starter: f})
	var mu sync.Mutex
	early := 0
	h.env.onSignal = func(pid int, sig syscall.Signal) {
		f.mu.Lock()
		c := f.execd[pid]
		f.mu.Unlock()
		select {
		case <-c:
		default:
			mu.Lock()
			early++
			mu.Unlock()
		}
	}
	opened := map[int]bool{}
	execOne := func(r *rand.Rand) {
		f.mu.Lock()
		var closed []int
		for pid := range f.execd {
			if !opened[pid] {
				closed = append(closed, pid)
			}
		}
		slices.Sort(closed)
		if len(closed) > 0 {
			pid := closed[r.IntN(len(closed))]
			opened[pid] = true
			close(f.execd[pid])
		}
		f.mu.Unlock()
	}
	sigs := []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGQUIT, sigRT1}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		switch n := r.IntN(20); {
		case n < 12:
			h.p.Signal(sigs[r.IntN(len(sigs))])
		case n < 14:
			execOne(r)
		case n == 14:
			h.p.Scale(+1)
		case n == 15:
			h.p.Scale(-1)
		case n == 16:
			h.p.Reload()
		case n == 17:
			if pids := h.live(); len(pids) > 0 {
				h.die(pids[r.IntN(len(pids))], syscall.SIGKILL)
			}
		case n == 18:
			h.obey()
		default:
			h.advance(50 * time.Millisecond)
		}
	}
	// Let everything settle: every worker runs, stopped ones are reaped.
	h.waitFor("the pool to settle", func() bool {
		for j := 0; j < 50; j++ {
			execOne(r)
		}
		h.obey()
		h.advance(time.Second)
		s := h.snap()
		for _, w := range s.Workers {
			if w.State != "ready" {
				return false
			}
		}
		return len(s.Workers) == s.Desired
	})
	s := h.snap()
	if len(h.live()) != s.Desired || s.Ready != s.Desired || s.Desired < 1 || s.Desired > 8 {
		t.Fatalf("inconsistent after the storm: desired %d ready %d live %v\n%+v", s.Desired, s.Ready, h.live(), s.Workers)
	}
	for _, w := range s.Workers {
		if w.Held != 0 || w.State != "ready" {
			t.Errorf("worker %+v after the storm", w)
		}
	}
	mu.Lock()
	if early != 0 {
		t.Errorf("%d signals reached a worker before its program ran", early)
	}
	mu.Unlock()
	h.p.Shutdown(0)
	h.obey()
	if r := h.result(); r.Code != 0 {
		t.Fatalf("result %+v", r)
	}
}
