package spawn

import (
	"context"
	"log/slog"
	"sort"
	"syscall"
	"time"
)

// forward sends sig to every live worker. A worker that is not ready yet
// gets it once it is: its program may not have set its handlers, and the
// default action of most signals would kill it.
func (p *Pool) forward(sig syscall.Signal) {
	p.st.signals[sig]++
	for _, w := range p.st.pids {
		switch {
		case w.phase == phaseStarting:
			w.hold(sig)
		case w.asked() && w.readyAt.IsZero():
			// Being stopped before it was ever ready: nothing to tell it.
		default:
			_ = p.env.signal(w.pid, sig)
		}
	}
}

// hold keeps sig for later. Standard signals do not queue in the kernel
// either: one pending of each is what the program would have seen.
func (w *worker) hold(sig syscall.Signal) {
	if sig < sigrtmin {
		for _, h := range w.held {
			if h == sig {
				return
			}
		}
	}
	if len(w.held) < maxHeld {
		w.held = append(w.held, sig)
	}
}

// owner finds the worker an sd_notify sender belongs to: the worker itself,
// or one of its descendants (e.g. the app under a shell wrapper).
func (p *Pool) owner(pid int) *worker {
	if w := p.st.pids[pid]; w != nil {
		return w
	}
	for _, a := range p.env.owners(pid) {
		if w := p.st.pids[a]; w != nil {
			return w
		}
	}
	return nil
}

func (p *Pool) notify(pid int, f map[string]string) {
	w := p.owner(pid)
	if w == nil {
		if p.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
			p.cfg.Log.Debug("sd_notify from a process that is no worker", "pid", pid)
		}
		return
	}
	if st, ok := f["STATUS"]; ok {
		w.status = st
	}
	if f["WATCHDOG"] == "1" {
		w.lastPing = p.env.now()
	}
	if f["STOPPING"] == "1" && !w.asked() {
		w.phase = phaseStopping // going down on its own; READY=1 takes it back
	}
	if f["READY"] == "1" {
		w.confirmed = true
		p.markReady(w)
	}
	if f["WATCHDOG"] == "trigger" && !w.asked() {
		p.cfg.Log.Warn("worker asked for its own watchdog kill", "worker", w.slot.id, "pid", w.pid)
		p.kill(w, reasonWatchdog)
	}
}

// usage records what workers cost and replaces one over DROVER_MAX_MEMORY.
func (p *Pool) usage(u map[int]Usage) {
	for pid, x := range u {
		w := p.st.pids[pid]
		if w == nil {
			continue
		}
		w.usage = x
		s := w.slot
		if p.cfg.MaxMemory > 0 && x.RSS > p.cfg.MaxMemory && s.cur == w && w.ready() {
			p.cfg.Log.Warn("worker uses more memory than allowed; replacing it",
				"worker", s.id, "pid", pid, "rss", x.RSS, "DROVER_MAX_MEMORY", p.cfg.MaxMemory)
			p.replace(s, reasonMemory)
		}
	}
	p.slotCPU()
}

// slotCPU updates each slot's CPU seconds across all its workers, never
// lower than what was reported before (a Prometheus counter).
func (p *Pool) slotCPU() map[int]float64 {
	total := make(map[int]float64, len(p.st.cpuDone))
	for id, c := range p.st.cpuDone {
		total[id] = c
	}
	for _, w := range p.st.pids {
		total[w.slot.id] += w.usage.CPUSeconds
	}
	for id, c := range total {
		p.st.cpuSeen[id] = max(p.st.cpuSeen[id], c)
	}
	out := make(map[int]float64, len(p.st.cpuSeen))
	for id, c := range p.st.cpuSeen {
		out[id] = c
	}
	return out
}

func (p *Pool) pids() []int {
	out := make([]int, 0, len(p.st.pids))
	for pid := range p.st.pids {
		out = append(out, pid)
	}
	sort.Ints(out)
	return out
}

// State is a copy of the pool's state for /status, /readyz and metrics.
type State struct {
	Desired  int
	Ready    int // slots whose serving worker is ready
	Draining bool
	Workers  []WorkerState
	Restarts map[string]uint64
	Signals  map[string]uint64
	Orphans  uint64
	// SlotCPUSeconds is each slot's CPU time over all its workers, dead
	// and alive: it only grows.
	SlotCPUSeconds map[int]float64
	// Resizes counts SetDesired changes; ResizeWhy and ResizedAt describe
	// the last one.
	Resizes   uint64
	ResizeWhy string
	ResizedAt time.Time
}

// WorkerState is one worker, or a slot waiting to restart (Pid 0).
type WorkerState struct {
	Slot, Pid, Generation int
	State                 string // one of States()
	Ready                 bool   // counts towards /readyz (see Pool.counts)
	Restarts              int
	Started               time.Time
	LastExit              string
	Status                string
	Usage                 Usage
	Held                  int // signals held until the worker is ready
}

func (p *Pool) snapshot() State {
	st := State{
		Desired:        p.st.desired,
		Draining:       p.st.draining,
		Orphans:        p.st.orphans,
		Restarts:       make(map[string]uint64, len(p.st.restarts)),
		Signals:        make(map[string]uint64, len(p.st.signals)),
		SlotCPUSeconds: p.slotCPU(),
		Resizes:        p.st.resizes,
		ResizeWhy:      p.st.resizeWhy,
		ResizedAt:      p.st.resizeAt,
	}
	for k, v := range p.st.restarts {
		st.Restarts[k] = v
	}
	for k, v := range p.st.signals {
		st.Signals[SignalName(k)] = v
	}
	now := p.env.now()
	for _, s := range p.st.slots {
		if p.counts(s, now) {
			st.Ready++
		}
		if s.cur == nil && !s.removed {
			ph := phaseBackoff
			if s.done {
				ph = phaseExited
			}
			st.Workers = append(st.Workers, WorkerState{Slot: s.id, State: ph.String(), Restarts: s.restarts, LastExit: s.lastExit})
		}
	}
	for _, w := range p.st.pids {
		st.Workers = append(st.Workers, WorkerState{
			Slot: w.slot.id, Pid: w.pid, Generation: w.gen, State: w.phase.String(), Ready: w.slot.cur == w && p.counts(w.slot, now),
			Restarts: w.slot.restarts, Started: w.started, LastExit: w.slot.lastExit,
			Status: w.status, Usage: w.usage, Held: len(w.held),
		})
	}
	sort.Slice(st.Workers, func(i, j int) bool {
		a, b := st.Workers[i], st.Workers[j]
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		return a.Started.Before(b.Started)
	})
	return st
}
