package spawn

import (
	"syscall"
	"time"
)

// afterExit decides what follows the exit of a slot's serving worker.
func (p *Pool) afterExit(s *slot, w *worker, status syscall.WaitStatus) {
	c := code(status)
	desc := describe(status)
	p.st.lastCode, s.lastExit = c, desc
	log := p.cfg.Log.With("worker", s.id, "pid", w.pid, "status", desc)
	if p.st.stopping || s.removed {
		log.Info("worker stopped")
		return
	}
	if s.next != nil {
		log.Warn("worker exited; its replacement takes over")
		return
	}
	forced := w.stopReason == reasonStartup || w.stopReason == reasonWatchdog
	if w.ready && time.Since(w.readyAt) >= p.cfg.ResetAfter {
		s.failures = 0
	}
	clean := c == 0 && !forced && w.ready && time.Since(w.readyAt) >= p.cfg.MinUptime

	switch {
	case p.cfg.Restart == Never:
		log.Info("worker exited")
		s.done = true
		return
	case p.cfg.Restart == OnFailure && c == 0 && !forced:
		log.Info("worker exited successfully; not restarting (DROVER_RESTART=on-failure)")
		s.done = true
		return
	}
	reason := reasonExit
	if forced {
		reason = w.stopReason
	}
	if clean {
		log.Info("worker exited; restarting")
		p.scheduleRestart(s, 0, reason)
		return
	}
	s.failures++
	if p.cfg.CrashLimit > 0 && s.failures >= p.cfg.CrashLimit {
		log.Error("worker failed too often in a row; giving up",
			"failures", s.failures, "DROVER_CRASH_LIMIT", p.cfg.CrashLimit)
		p.st.gaveUp = true
		p.st.giveUpCode = c
		if c == 0 {
			p.st.giveUpCode = 1 // giving up is a failure, even after clean exits
		}
		p.stopAll()
		return
	}
	delay := p.backoff(s.failures)
	log.Warn("worker failed; restarting", "in", delay, "failures", s.failures)
	p.scheduleRestart(s, delay, reason)
}

// backoff doubles from BackoffMin for each consecutive failure, up to BackoffMax.
func (p *Pool) backoff(failures int) time.Duration {
	d := p.cfg.BackoffMin
	for i := 1; i < failures && d < p.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.cfg.BackoffMax)
}

func (p *Pool) scheduleRestart(s *slot, delay time.Duration, reason string) {
	s.waiting = true
	restart := func() {
		s.waiting, s.backoff = false, nil
		if p.st.stopping || s.removed || s.cur != nil {
			return
		}
		s.restarts++
		p.st.restarts[reason]++
		p.start(s, "")
	}
	if delay <= 0 {
		restart()
		return
	}
	s.backoff = time.AfterFunc(delay, func() { p.post(restart) })
}

// shutdown drains, then stops. The second call cuts the drain short.
func (p *Pool) shutdown(drain time.Duration, why string) {
	if p.st.stopping {
		return
	}
	if p.st.draining || drain <= 0 {
		p.stopAll()
		return
	}
	p.st.draining = true
	p.cfg.Log.Info("draining: not ready any more, stopping workers after the delay", "DROVER_DRAIN_DELAY", drain)
	p.st.drainT = time.AfterFunc(drain, func() { p.post(p.stopAll) })
}

// stopAll sends every worker the stop signal and lets no slot restart.
func (p *Pool) stopAll() {
	if p.st.stopping {
		return
	}
	p.st.stopping, p.st.draining = true, true
	if p.st.drainT != nil {
		p.st.drainT.Stop()
	}
	if len(p.st.pids) > 0 {
		p.cfg.Log.Info("stopping workers", "signal", SignalName(p.cfg.StopSignal), "DROVER_STOP_TIMEOUT", p.cfg.StopTimeout)
	}
	for _, s := range p.st.slots {
		if s.backoff != nil {
			s.backoff.Stop()
			s.backoff, s.waiting = nil, false
		}
	}
	for _, w := range p.st.pids {
		if w.stopping && w.stopReason != reasonShutdown {
			// Already on its way out; keep its clock, but let a kill
			// after the stop timeout count as one of the shutdown.
			continue
		}
		p.stop(w, reasonShutdown)
	}
	p.maybeFinish()
}

// releaseSlots frees removed slots once their last worker is gone.
func (p *Pool) releaseSlots() {
	for n := len(p.st.slots); n > 0; n-- {
		s := p.st.slots[n-1]
		if !s.removed || s.alive(&p.st) > 0 {
			return
		}
		if s.backoff != nil {
			s.backoff.Stop()
		}
		p.cfg.Release(s.id)
		p.st.slots = p.st.slots[:n-1]
	}
}

// maybeFinish ends Run when nothing is alive and nothing will start again.
func (p *Pool) maybeFinish() {
	if p.st.finished || len(p.st.pids) > 0 {
		return
	}
	if !p.st.stopping {
		for _, s := range p.st.slots {
			if !s.done && !s.removed {
				return
			}
		}
	}
	r := Result{Code: 0, Reason: "all workers done"}
	switch {
	case p.st.gaveUp:
		r = Result{Code: p.st.giveUpCode, Reason: "crash limit reached"}
	case p.cfg.Restart == Never:
		r = Result{Code: p.st.lastCode, Reason: "last worker's status"}
	case p.st.anyKilled:
		r = Result{Code: 137, Reason: "a worker had to be killed"}
	case p.st.stopping:
		r = Result{Code: 0, Reason: "stopped"}
	}
	p.st.finished, p.st.result = true, r
	for _, s := range p.st.slots {
		if s.backoff != nil {
			s.backoff.Stop()
		}
	}
	if p.st.drainT != nil {
		p.st.drainT.Stop()
	}
}
