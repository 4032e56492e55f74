package spawn

import (
	"bytes"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// forward sends sig to every live worker; a worker still in the exec shim
// gets it once it runs the user's program.
func (p *Pool) forward(sig syscall.Signal) {
	p.st.signals[sig]++
	for _, w := range p.st.pids {
		if w.execd {
			_ = p.cfg.Signal(w.pid, sig)
		} else {
			w.pending = append(w.pending, sig)
		}
	}
}

// owner finds the worker an sd_notify sender belongs to: the worker itself,
// or one of its descendants (e.g. the app under a shell wrapper).
func (p *Pool) owner(pid int) *worker {
	if w := p.st.pids[pid]; w != nil {
		return w
	}
	for _, a := range p.cfg.Owners(pid) {
		if w := p.st.pids[a]; w != nil {
			return w
		}
	}
	return nil
}

func (p *Pool) notify(pid int, f map[string]string) {
	w := p.owner(pid)
	if w == nil {
		p.cfg.Log.Debug("sd_notify from a process that is no worker", "pid", pid)
		return
	}
	if st, ok := f["STATUS"]; ok {
		w.status = st
	}
	if f["WATCHDOG"] == "1" {
		w.lastPing = time.Now()
	}
	if f["STOPPING"] == "1" {
		w.ready, w.quitting = false, true
	}
	if f["READY"] == "1" {
		w.quitting = false
		p.markReady(w)
	}
	if f["WATCHDOG"] == "trigger" && !w.stopping {
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
		if p.cfg.MaxMemory > 0 && x.RSS > p.cfg.MaxMemory && s.cur == w && w.ready && !w.stopping {
			p.cfg.Log.Warn("worker uses more memory than allowed; replacing it",
				"worker", s.id, "pid", pid, "rss", x.RSS, "DROVER_MAX_MEMORY", p.cfg.MaxMemory)
			p.replace(s, reasonMemory)
		}
	}
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
}

// WorkerState is one worker, or a slot waiting to restart (Pid 0).
type WorkerState struct {
	Slot, Pid, Generation int
	State                 string // starting, ready, stopping, backoff, exited
	Ready                 bool
	Restarts              int
	Started               time.Time
	LastExit              string
	Status                string
	Usage                 Usage
}

func (p *Pool) snapshot() State {
	st := State{
		Desired:  p.st.desired,
		Draining: p.st.draining,
		Orphans:  p.st.orphans,
		Restarts: map[string]uint64{},
		Signals:  map[string]uint64{},
	}
	for k, v := range p.st.restarts {
		st.Restarts[k] = v
	}
	for k, v := range p.st.signals {
		st.Signals[SignalName(k)] = v
	}
	for _, s := range p.st.slots {
		if s.cur != nil && s.cur.ready {
			st.Ready++
		}
		if s.cur == nil && !s.removed {
			state := "backoff"
			if s.done {
				state = "exited"
			}
			st.Workers = append(st.Workers, WorkerState{Slot: s.id, State: state, Restarts: s.restarts, LastExit: s.lastExit})
		}
	}
	for _, w := range p.st.pids {
		state := "starting"
		switch {
		case w.stopping, w.quitting:
			state = "stopping"
		case w.ready:
			state = "ready"
		}
		st.Workers = append(st.Workers, WorkerState{
			Slot: w.slot.id, Pid: w.pid, Generation: w.gen, State: state, Ready: w.ready,
			Restarts: w.slot.restarts, Started: w.started, LastExit: w.slot.lastExit,
			Status: w.status, Usage: w.usage,
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

// Owners lists the process group leader and the ancestors of pid, read from
// /proc, nearest first: the candidates for the worker that sent a message.
func Owners(pid int) []int {
	var out []int
	if pg, err := syscall.Getpgid(pid); err == nil && pg != pid {
		out = append(out, pg)
	}
	for i := 0; i < 32 && pid > 1; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break
		}
		j := bytes.LastIndexByte(b, ')')
		if j < 0 {
			break
		}
		f := bytes.Fields(b[j+1:])
		if len(f) < 2 {
			break
		}
		if pid, err = strconv.Atoi(string(f[1])); err != nil {
			break
		}
		out = append(out, pid)
	}
	return out
}
