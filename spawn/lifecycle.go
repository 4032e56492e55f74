package spawn

import (
	"context"
	"log/slog"
	"syscall"
	"time"
)

func (p *Pool) addSlot() *slot {
	s := &slot{id: len(p.st.slots)}
	p.st.slots = append(p.st.slots, s)
	return s
}

// after runs f on the owner goroutine once d has passed, if w is then still
// the same live worker; the timer dies with the worker.
func (p *Pool) after(w *worker, d time.Duration, f func()) {
	t := p.env.afterFunc(d, func() {
		p.post(func() {
			if p.st.pids[w.pid] == w {
				f()
			}
		})
	})
	w.timers = append(w.timers, t)
}

// start starts a worker for slot s. purpose "" is the slot's own worker;
// any other purpose (reload, memory) makes it the slot's replacement.
func (p *Pool) start(s *slot, purpose string) *worker {
	files, err := p.cfg.Files(s.id)
	if err == nil {
		var proc Process
		proc, err = p.cfg.Starter.Start(p.workerEnv(s.id), files)
		if err == nil {
			return p.started(s, purpose, proc)
		}
	}
	if Transient(err) {
		p.startRefused(s, purpose, err)
		return nil
	}
	p.cfg.Log.Error("cannot start worker", "worker", s.id, "err", err)
	c := StartError(err)
	if purpose != "" {
		p.replacementFailed(s, "exit "+itoa(c))
		return nil
	}
	p.afterExit(s, &worker{slot: s, started: p.env.now()}, syscall.WaitStatus(c<<8))
	return nil
}

// startRefused handles a start the system refused for lack of resources
// (processes, descriptors, memory): nothing is wrong with the command, so
// it is retried with backoff, never counted as a crash, and logged once per
// streak however many slots and attempts it takes.
func (p *Pool) startRefused(s *slot, purpose string, err error) {
	if !p.st.startFails {
		p.st.startFails = true
		p.cfg.Log.Warn("cannot start workers for lack of resources; retrying with backoff", "worker", s.id, "err", err)
	}
	if purpose != "" {
		// The old worker keeps serving; a later reload can try again.
		p.replacementFailed(s, err.Error())
		return
	}
	s.retries++
	p.scheduleStart(s, p.delay(s.retries), "")
}

func (p *Pool) started(s *slot, purpose string, proc Process) *worker {
	now := p.env.now()
	if p.st.startFails {
		p.st.startFails = false
		p.cfg.Log.Info("workers start again")
	}
	s.retries = 0
	w := &worker{slot: s, pid: proc.Pid, gen: p.st.gen, started: now, purpose: purpose}
	p.st.pids[w.pid] = w
	if purpose == "" {
		s.cur = w
	} else {
		s.next = w
	}
	p.cfg.Log.Info("worker started", "worker", s.id, "pid", w.pid)
	p.armStartup(w)
	select {
	case <-execdOrNil(proc.Execd):
		p.execd(w)
	default:
		// One goroutine per live worker at most: it ends at exec or when
		// the worker is reaped, whichever comes first.
		w.gone = make(chan struct{})
		go func() {
			select {
			case <-proc.Execd:
				p.post(func() {
					if p.st.pids[w.pid] == w {
						p.execd(w)
					}
				})
			case <-w.gone:
			}
		}()
	}
	return w
}

// execd: the user's program runs now.
func (p *Pool) execd(w *worker) {
	if p.cfg.ReadyNotify {
		return
	}
	if p.listening() {
		p.probeAfter(w, firstProbe)
		return
	}
	if p.cfg.ReadyDelay <= 0 {
		p.markReady(w)
		return
	}
	p.after(w, p.cfg.ReadyDelay, func() { p.markReady(w) })
}

func (p *Pool) markReady(w *worker) {
	if w.phase == phaseReady || w.asked() {
		return
	}
	w.phase = phaseReady
	w.readyAt = p.env.now()
	if w.startup != nil {
		w.startup.Stop()
		w.startup = nil
	}
	w.lastPing = w.readyAt
	if p.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		p.cfg.Log.Debug("worker ready", "worker", w.slot.id, "pid", w.pid)
	}
	for _, sig := range w.held {
		_ = p.env.signal(w.pid, sig)
	}
	w.held = nil
	if p.cfg.Watchdog > 0 && w.watchdog == nil { // READY=1 may come again
		p.armWatchdog(w, p.cfg.Watchdog)
	}
	if w.slot.next == w {
		p.promote(w.slot)
	}
}

// armWatchdog keeps one timer per worker however often it is re-armed, so
// a worker that runs for months does not collect timers.
func (p *Pool) armWatchdog(w *worker, d time.Duration) {
	w.watchdog = p.env.afterFunc(d, func() {
		p.post(func() {
			if p.st.pids[w.pid] == w {
				p.watchdogDue(w)
			}
		})
	})
}

func (p *Pool) watchdogDue(w *worker) {
	if w.asked() {
		return
	}
	silent := p.env.now().Sub(w.lastPing)
	if silent < p.cfg.Watchdog {
		p.armWatchdog(w, p.cfg.Watchdog-silent)
		return
	}
	p.cfg.Log.Warn("worker sent no WATCHDOG=1 in time; killing it",
		"worker", w.slot.id, "pid", w.pid, "DROVER_WATCHDOG", p.cfg.Watchdog)
	p.kill(w, reasonWatchdog)
}

// stop asks a worker's process group to stop, and kills it after the timeout.
func (p *Pool) stop(w *worker, reason string) {
	if w == nil || w.asked() {
		return
	}
	w.phase, w.stopReason, w.held = phaseStopping, reason, nil
	_ = p.env.kill(w.pid, p.cfg.StopSignal)
	p.after(w, p.cfg.StopTimeout, func() {
		p.cfg.Log.Warn("worker did not stop in time; killing it",
			"worker", w.slot.id, "pid", w.pid, "DROVER_STOP_TIMEOUT", p.cfg.StopTimeout)
		w.killed = true
		_ = p.env.kill(w.pid, syscall.SIGKILL)
	})
}

// kill ends a hung worker at once: it cannot drain anything anyway.
func (p *Pool) kill(w *worker, reason string) {
	w.phase, w.stopReason, w.held = phaseStopping, reason, nil
	_ = p.env.kill(w.pid, syscall.SIGKILL)
}

// exited handles a reaped pid.
func (p *Pool) exited(e Exit) {
	w := p.st.pids[e.Pid]
	if w == nil {
		p.st.orphans++
		if p.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
			p.cfg.Log.Debug("reaped orphan", "pid", e.Pid, "status", describe(e.Status))
		}
		return
	}
	delete(p.st.pids, e.Pid)
	w.cancelTimers()
	if w.gone != nil {
		close(w.gone)
	}
	s := w.slot
	p.st.cpuDone[s.id] += w.usage.CPUSeconds
	if !p.st.stopping && !s.removed {
		p.quickExitHint(w)
	}
	if w.killed && p.st.stopping {
		p.st.anyKilled = true
	}
	switch {
	case s.next == w:
		s.next = nil
		s.lastExit = describe(e.Status)
		if !p.st.stopping && !s.removed {
			p.replacementFailed(s, s.lastExit)
		}
		if s.cur == nil {
			p.afterExit(s, w, e.Status)
		} else if p.st.stopping {
			// A replacement stopped by the shutdown before the worker it
			// was to replace: still one of the workers the user counts.
			p.cfg.Log.Info("worker stopped", "worker", s.id, "pid", w.pid, "status", describe(e.Status))
		}
	case s.cur == w:
		s.cur = nil
		p.afterExit(s, w, e.Status)
	default:
		// A worker we had replaced or scaled away: its exit was asked for.
		p.cfg.Log.Info("worker stopped", "worker", s.id, "pid", w.pid, "status", describe(e.Status))
	}
	p.releaseSlots()
	p.maybeFinish()
}

// execdOrNil makes a nil Execd (already running the program) a closed channel.
func execdOrNil(c <-chan struct{}) <-chan struct{} {
	if c == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return c
}
