package spawn

import (
	"syscall"
	"time"
)

// afterExit decides what follows the exit of a slot's serving worker.
func (p *Pool) afterExit(s *slot, w *worker, status syscall.WaitStatus) {
	c := code(status)
	desc := describeWorker(w, status)
	s.lastExit = desc
	log := p.cfg.Log.With("worker", s.id, "pid", w.pid, "status", desc)
	if c != 0 && !p.st.failed {
		p.st.failed, p.st.failCode = true, c // restart never: drover's status
	}
	if p.st.stopping || s.removed {
		log.Info("worker stopped")
		return
	}
	if s.next != nil {
		log.Warn("worker exited; its replacement takes over")
		return
	}
	forced := w.stopReason == reasonStartup || w.stopReason == reasonWatchdog
	now := p.env.now()
	if w.ready() && now.Sub(w.readyAt) >= p.cfg.ResetAfter {
		s.failures = 0
	}
	clean := c == 0 && !forced && w.ready() && now.Sub(w.readyAt) >= p.cfg.MinUptime

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
	switch {
	case forced:
		reason = w.stopReason
	case w.oom:
		reason = reasonOOM
	}
	if clean {
		log.Info("worker exited; restarting")
		p.scheduleStart(s, 0, reason)
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
	delay := p.delay(s.failures - 1)
	log.Warn("worker failed; restarting", "in", delay, "failures", s.failures)
	p.scheduleStart(s, delay, reason)
}

// delay is the wait before the next start after n failures in a row: none
// for the first (a single crash should cost no more than a fork), then
// BackoffMin doubling up to BackoffMax.
func (p *Pool) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := p.cfg.BackoffMin
	for i := 1; i < n && d < p.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.cfg.BackoffMax)
}

// scheduleStart starts the slot's worker after delay; a non-empty reason
// counts it as a restart. A slot never has more than one start pending.
func (p *Pool) scheduleStart(s *slot, delay time.Duration, reason string) {
	s.cancelBackoff()
	if delay <= 0 {
		p.restart(s, reason)
		return
	}
	var t timer
	t = p.env.afterFunc(delay, func() {
		p.post(func() {
			if s.backoff == t {
				s.backoff = nil
				p.restart(s, reason)
			}
		})
	})
	s.backoff = t
}

func (p *Pool) restart(s *slot, reason string) {
	if p.st.stopping || s.removed || s.cur != nil {
		return
	}
	if reason != "" {
		s.restarts++
		p.st.restarts[reason]++
	}
	p.start(s, "")
}

// shutdown drains, then stops. The second call cuts the drain short.
func (p *Pool) shutdown(drain time.Duration) {
	if p.st.stopping {
		return
	}
	if p.st.draining || drain <= 0 {
		p.stopAll()
		return
	}
	p.st.draining = true
	p.cfg.Log.Info("draining: not ready any more, stopping workers after the delay", "DROVER_DRAIN_DELAY", drain)
	p.st.drainT = p.env.afterFunc(drain, func() { p.post(p.stopAll) })
}

// stopAll sends every worker the stop signal and lets no slot restart.
func (p *Pool) stopAll() {
	if p.st.stopping {
		return
	}
	p.st.stopping, p.st.draining = true, true
	p.st.reloading, p.st.reloadPending = false, false
	if p.st.drainT != nil {
		p.st.drainT.Stop()
	}
	if len(p.st.pids) > 0 {
		p.cfg.Log.Info("stopping workers", "signal", SignalName(p.cfg.StopSignal), "DROVER_STOP_TIMEOUT", p.cfg.StopTimeout)
	}
	for _, s := range p.st.slots {
		s.cancelBackoff()
	}
	for _, w := range p.st.pids {
		if w.asked() && w.stopReason != reasonShutdown {
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
		s.cancelBackoff()
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
	case p.cfg.Restart == Never && p.st.failed:
		r = Result{Code: p.st.failCode, Reason: "first failed worker's status"}
	case p.cfg.Restart == Never:
		r = Result{Code: 0, Reason: "every worker exited 0"}
	case p.st.anyKilled:
		r = Result{Code: 137, Reason: "a worker had to be killed"}
	case p.st.stopping:
		r = Result{Code: 0, Reason: "stopped"}
	}
	p.st.finished, p.st.result = true, r
	for _, s := range p.st.slots {
		s.cancelBackoff()
	}
	if p.st.drainT != nil {
		p.st.drainT.Stop()
	}
}
