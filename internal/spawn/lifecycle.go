package spawn

import (
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
	t := time.AfterFunc(d, func() {
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
	p.cfg.Log.Error("cannot start worker", "worker", s.id, "err", err)
	status := syscall.WaitStatus(StartError(err) << 8)
	if purpose != "" {
		p.replacementFailed(s, "exit "+itoa(StartError(err)))
		return nil
	}
	p.afterExit(s, &worker{slot: s, started: time.Now()}, status)
	return nil
}

func (p *Pool) started(s *slot, purpose string, proc Process) *worker {
	w := &worker{slot: s, pid: proc.Pid, gen: p.st.gen, started: time.Now(), purpose: purpose}
	p.st.pids[w.pid] = w
	if purpose == "" {
		s.cur = w
	} else {
		s.next = w
	}
	p.cfg.Log.Info("worker started", "worker", s.id, "pid", w.pid)
	go func() {
		<-proc.Execd
		p.post(func() {
			if p.st.pids[w.pid] == w {
				p.execd(w)
			}
		})
	}()
	if p.cfg.ReadyNotify || p.cfg.ReadyDelay > 0 {
		p.after(w, p.cfg.StartupTimeout, func() {
			if !w.ready && !w.stopping {
				p.cfg.Log.Warn("worker not ready in time; stopping it",
					"worker", s.id, "pid", w.pid, "DROVER_STARTUP_TIMEOUT", p.cfg.StartupTimeout)
				p.stop(w, reasonStartup)
			}
		})
	}
	return w
}

// execd: the user's program runs now; hand it what waited for it.
func (p *Pool) execd(w *worker) {
	w.execd = true
	for _, sig := range w.pending {
		_ = p.cfg.Signal(w.pid, sig)
	}
	w.pending = nil
	if !p.cfg.ReadyNotify {
		if p.cfg.ReadyDelay <= 0 {
			p.markReady(w)
		} else {
			p.after(w, p.cfg.ReadyDelay, func() { p.markReady(w) })
		}
	}
}

func (p *Pool) markReady(w *worker) {
	if w.ready || w.stopping {
		return
	}
	w.ready = true
	w.readyAt = time.Now()
	w.lastPing = w.readyAt
	p.cfg.Log.Debug("worker ready", "worker", w.slot.id, "pid", w.pid)
	if p.cfg.Watchdog > 0 && !w.watched {
		w.watched = true // one timer chain per worker, even if READY=1 comes again
		p.armWatchdog(w, p.cfg.Watchdog)
	}
	if w.slot.next == w {
		p.promote(w.slot)
	}
}

func (p *Pool) armWatchdog(w *worker, d time.Duration) {
	p.after(w, d, func() {
		if w.stopping {
			return
		}
		silent := time.Since(w.lastPing)
		if silent < p.cfg.Watchdog {
			p.armWatchdog(w, p.cfg.Watchdog-silent)
			return
		}
		p.cfg.Log.Warn("worker sent no WATCHDOG=1 in time; killing it",
			"worker", w.slot.id, "pid", w.pid, "DROVER_WATCHDOG", p.cfg.Watchdog)
		p.kill(w, reasonWatchdog)
	})
}

// stop asks a worker's process group to stop, and kills it after the timeout.
func (p *Pool) stop(w *worker, reason string) {
	if w == nil || w.stopping {
		return
	}
	w.stopping, w.stopReason, w.ready = true, reason, false
	_ = p.cfg.Kill(w.pid, p.cfg.StopSignal)
	p.after(w, p.cfg.StopTimeout, func() {
		p.cfg.Log.Warn("worker did not stop in time; killing it",
			"worker", w.slot.id, "pid", w.pid, "DROVER_STOP_TIMEOUT", p.cfg.StopTimeout)
		w.killed = true
		_ = p.cfg.Kill(w.pid, syscall.SIGKILL)
	})
}

// kill ends a hung worker at once: it cannot drain anything anyway.
func (p *Pool) kill(w *worker, reason string) {
	w.stopping, w.stopReason, w.ready = true, reason, false
	_ = p.cfg.Kill(w.pid, syscall.SIGKILL)
}

// exited handles a reaped pid.
func (p *Pool) exited(e Exit) {
	w := p.st.pids[e.Pid]
	if w == nil {
		p.st.orphans++
		p.cfg.Log.Debug("reaped orphan", "pid", e.Pid, "status", describe(e.Status))
		return
	}
	delete(p.st.pids, e.Pid)
	w.cancelTimers()
	s := w.slot
	if w.killed && p.st.stopping {
		p.st.anyKilled = true
	}
	switch {
	case s.next == w:
		s.next = nil
		s.lastExit = describe(e.Status)
		p.replacementFailed(s, s.lastExit)
		if s.cur == nil {
			p.afterExit(s, w, e.Status)
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
