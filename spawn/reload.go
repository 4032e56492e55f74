package spawn

// reload starts a rolling replacement of every worker: per slot, start the
// new worker, wait until it is ready, then stop the old one. A new worker
// that fails aborts the reload and the old ones keep serving.
func (p *Pool) reload() {
	if p.st.draining {
		p.cfg.Log.Warn("reload ignored: shutting down")
		return
	}
	if p.st.reloading {
		p.st.reloadPending = true
		p.cfg.Log.Info("reload queued behind the one in progress")
		return
	}
	p.st.gen++
	p.st.reloading = true
	p.cfg.Log.Info("reloading workers one by one", "workers", p.st.desired)
	p.advanceReload()
}

// advanceReload moves on to the next slot still serving an old generation.
func (p *Pool) advanceReload() {
	if !p.st.reloading {
		return
	}
	for _, s := range p.st.slots {
		if s.removed {
			continue
		}
		if s.next != nil {
			return // a replacement is under way; it calls us when ready
		}
		if s.cur != nil && s.cur.gen < p.st.gen {
			p.start(s, reasonReload)
			return
		}
	}
	p.st.reloading = false
	p.cfg.Log.Info("reload complete")
	if p.st.reloadPending {
		p.st.reloadPending = false
		p.reload()
	}
}

// replace swaps one slot's worker gracefully, e.g. over its memory limit.
func (p *Pool) replace(s *slot, reason string) {
	if s.next != nil || s.removed || p.st.draining {
		return
	}
	p.start(s, reason)
}

// promote: the replacement is ready, so it serves and the old one stops.
func (p *Pool) promote(s *slot) {
	old, w := s.cur, s.next
	s.cur, s.next = w, nil
	w.promoted = true
	reason := w.purpose
	w.purpose = ""
	s.restarts++
	p.st.restarts[reason]++
	p.cfg.Log.Info("worker replaced", "worker", s.id, "pid", w.pid, "reason", reason)
	if old != nil {
		p.stop(old, reason)
	}
	p.advanceReload()
}

// replacementFailed keeps the old worker serving and ends the reload.
// (A replacement stopped by a shutdown or a scale-down has not failed.)
func (p *Pool) replacementFailed(s *slot, why string) {
	p.cfg.Log.Error("replacement worker failed before it was ready; keeping the old one",
		"worker", s.id, "status", why)
	if p.st.reloading {
		p.st.reloading, p.st.reloadPending = false, false
		p.cfg.Log.Error("reload aborted")
	}
}

// scale adds or removes the highest slot (SIGTTIN / SIGTTOU).
func (p *Pool) scale(delta int) {
	if p.st.draining {
		return
	}
	switch {
	case delta > 0:
		if p.cfg.MaxWorkers > 0 && p.st.desired >= p.cfg.MaxWorkers {
			p.cfg.Log.Warn("not adding a worker: the pool is at its maximum", "workers", p.st.desired, "max", p.cfg.MaxWorkers)
			return
		}
		p.grow()
		p.cfg.Log.Info("adding a worker", "workers", p.st.desired)
	case delta < 0:
		if p.st.desired <= 1 {
			p.cfg.Log.Warn("not removing the last worker")
			return
		}
		p.shrink()
		p.cfg.Log.Info("removing a worker", "workers", p.st.desired)
	}
}

// setDesired moves the pool to n workers one slot at a time, the same way
// as scale, and logs one line for the whole change.
func (p *Pool) setDesired(n int, why string) {
	if p.st.draining {
		return
	}
	n = max(n, 1)
	if p.cfg.MaxWorkers > 0 {
		n = min(n, p.cfg.MaxWorkers)
	}
	if n == p.st.desired {
		return
	}
	p.cfg.Log.Info("resizing the pool", "from", p.st.desired, "to", n, "why", why)
	for p.st.desired < n {
		p.grow()
	}
	for p.st.desired > n {
		p.shrink()
	}
	p.st.resizes++
	p.st.resizeWhy, p.st.resizeAt = why, p.env.now()
}

// grow adds the next slot, taking back one still stopping if there is one.
func (p *Pool) grow() {
	p.st.desired++
	var s *slot
	if p.st.desired <= len(p.st.slots) {
		s = p.st.slots[p.st.desired-1]
		s.removed, s.done, s.failures, s.retries = false, false, 0, 0
	} else {
		s = p.addSlot()
	}
	if s.cur == nil && !s.waiting() {
		p.start(s, "")
	}
}

// shrink stops the highest slot's workers gracefully; the slot's sockets
// are released once they are gone.
func (p *Pool) shrink() {
	p.st.desired--
	s := p.st.slots[p.st.desired]
	s.removed = true
	s.cancelBackoff()
	p.stop(s.next, reasonScale)
	p.stop(s.cur, reasonScale)
	s.cur, s.next = nil, nil
	p.releaseSlots()
	p.advanceReload()
	p.maybeFinish()
}
