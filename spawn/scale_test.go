package spawn

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func envOf(h *harness, pid int) []string {
	h.start.mu.Lock()
	defer h.start.mu.Unlock()
	return h.start.envs[pid]
}

func TestScale(t *testing.T) {
	var mu sync.Mutex
	var released []int
	h := newHarness(t, Config{Workers: 1, MaxWorkers: 2, Env: []string{"A=1", "DROVER_WORKER_ID=9", "DROVER_WORKERS=9"},
		Release: func(slot int) { mu.Lock(); released = append(released, slot); mu.Unlock() }})
	h.p.Scale(+1)
	h.sync()
	if s := h.snap(); s.Desired != 2 || len(h.live()) != 2 {
		t.Fatalf("after +1: desired %d, %d workers", s.Desired, len(h.live()))
	}
	added := h.slotPid(1)
	if env := envOf(h, added); !slices.Equal(env, []string{"A=1", "DROVER_WORKER_ID=1", "DROVER_WORKERS=2"}) {
		t.Fatalf("new worker's env %q", env)
	}
	h.p.Scale(+1) // beyond MaxWorkers
	h.sync()
	if s := h.snap(); s.Desired != 2 || h.logs.count("at its maximum") != 1 {
		t.Fatalf("scale beyond the maximum: desired %d", s.Desired)
	}
	h.p.Scale(-1)
	h.sync()
	if k := h.killsOf(added); len(k) != 1 {
		t.Fatalf("removed worker got %v, want the stop signal", k)
	}
	mu.Lock()
	if len(released) != 0 {
		t.Fatal("slot released before its worker is gone")
	}
	mu.Unlock()
	h.obey()
	mu.Lock()
	if !slices.Equal(released, []int{1}) {
		t.Fatalf("released %v, want [1]", released)
	}
	mu.Unlock()
	h.p.Scale(-1) // the last one stays
	if s := h.snap(); s.Desired != 1 || len(h.live()) != 1 || h.logs.count("not removing the last worker") != 1 {
		t.Fatalf("scale below one: %+v", s)
	}
}

// Scaling up again while a removed worker is still stopping takes its slot back.
func TestScaleTakesBackStoppingSlot(t *testing.T) {
	h := newHarness(t, Config{Workers: 2})
	stopping := h.slotPid(1)
	h.p.Scale(-1)
	h.p.Scale(+1)
	h.sync()
	if n := len(h.live()); n != 3 {
		t.Fatalf("%d workers, want the stopping one and its successor", n)
	}
	h.obey()
	h.advance(time.Second) // started mode: counted once up 1s
	if s := h.snap(); s.Desired != 2 || s.Ready != 2 || h.slotPid(1) == stopping {
		t.Fatalf("after taking the slot back: %+v", s)
	}
}

// Scaling down a slot in backoff cancels its pending start.
func TestScaleDownInBackoff(t *testing.T) {
	h := newHarness(t, Config{Workers: 2})
	h.exit(h.slotPid(1), 1)
	h.exit(h.slotPid(1), 1)
	if h.env.pending() != 1 {
		t.Fatal("slot 1 not in backoff")
	}
	h.p.Scale(-1)
	h.advance(time.Second)
	if s := h.snap(); len(h.live()) != 1 || s.Desired != 1 || h.env.pending() != 0 {
		t.Fatalf("after scaling down a slot in backoff: %+v, %d timers", s, h.env.pending())
	}
}

func TestSetDesired(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, MaxWorkers: 6})
	h.p.SetDesired(4, "cpu budget 1 -> 4")
	h.sync()
	s := h.snap()
	if s.Desired != 4 || len(h.live()) != 4 || s.Resizes != 1 || s.ResizeWhy != "cpu budget 1 -> 4" || s.ResizedAt.IsZero() {
		t.Fatalf("after growing: %+v", s)
	}
	if h.logs.count("resizing the pool") != 1 || h.logs.count("adding a worker") != 0 {
		t.Errorf("want one log line for the whole change:\n%s", h.logs)
	}
	h.p.SetDesired(2, "cpu budget 4 -> 2")
	h.sync()
	h.obey()
	if s := h.snap(); s.Desired != 2 || len(h.live()) != 2 || s.Resizes != 2 {
		t.Fatalf("after shrinking: %+v", s)
	}
	h.p.SetDesired(100, "huge")
	h.sync()
	if s := h.snap(); s.Desired != 6 {
		t.Fatalf("desired %d, want clamped to MaxWorkers 6", s.Desired)
	}
	h.p.SetDesired(0, "none")
	h.sync()
	h.obey()
	if s := h.snap(); s.Desired != 1 || len(h.live()) != 1 {
		t.Fatalf("desired %d, want clamped to 1", s.Desired)
	}
	h.p.SetDesired(1, "same") // no change, no count
	if s := h.snap(); s.Resizes != 4 {
		t.Fatalf("resizes %d, want 4", s.Resizes)
	}
	h.p.Shutdown(time.Minute)
	h.p.SetDesired(3, "while draining") // ignored
	if s := h.snap(); s.Desired != 1 {
		t.Fatalf("resized while draining: %d", s.Desired)
	}
}

// A configured count above MaxWorkers is cut to it (main refuses it first).
func TestWorkersClampedToMax(t *testing.T) {
	h := newHarness(t, Config{Workers: 10, MaxWorkers: 3})
	if s := h.snap(); s.Desired != 3 || len(h.live()) != 3 {
		t.Fatalf("desired %d", s.Desired)
	}
	if !slices.Contains(envOf(h, h.slotPid(2)), "DROVER_WORKERS=3") {
		t.Errorf("env %q", envOf(h, h.slotPid(2)))
	}
}
