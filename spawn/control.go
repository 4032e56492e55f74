package spawn

import "syscall"

// ShutdownWith stops the pool the way a plain init does: sig itself (INT
// stays INT, so a Python child sees KeyboardInterrupt) goes to every
// worker's process group and starts the stop timer; the same signal arriving
// again is passed on again, as tini would.
func (p *Pool) ShutdownWith(sig syscall.Signal) {
	p.post(func() {
		if p.st.stopping {
			p.st.signals[sig]++
			for _, w := range p.st.pids {
				_ = p.env.kill(w.pid, sig)
			}
			return
		}
		p.cfg.StopSignal = sig
		p.stopAll()
	})
}

// SignalGroup sends sig to every worker's whole process group: job control
// (TSTP, TTIN, TTOU, CONT) must reach the job, not only its leader.
func (p *Pool) SignalGroup(sig syscall.Signal) {
	p.post(func() {
		p.st.signals[sig]++
		for _, w := range p.st.pids {
			_ = p.env.kill(w.pid, sig)
			p.sent(w, sig)
		}
	})
}
