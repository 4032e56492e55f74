package spawn

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Probe looks into a worker's process tree (main adapts internal/sockwait
// to it). Its methods are called off the pool's goroutine: they read /proc.
type Probe interface {
	// Listening says whether a process of pid's tree waits for
	// connections on slot's sockets. An error means it cannot be told
	// (no access to the worker's /proc files).
	Listening(pid, slot int) (Listen, error)
	// Explain says what pid's tree does instead, in sentences, for the
	// log line of a worker that never started listening.
	Explain(pid, slot int) []string
	// Sockets names what a slot's worker should listen on, for log lines:
	// "tcp://[::]:8080 (fd 3)".
	Sockets(slot int) string
}

// Listen is what one probe found.
type Listen struct {
	Listening bool
	Pid       int    // the process seen waiting: the worker or a descendant
	How       string // epoll, accept, poll, select: for the debug log
	// Shell: the worker is a shell whose child holds the socket: it ran
	// the server without exec, so LISTEN_PID is the shell's pid.
	Shell bool
}

// The probes of a starting worker: the first soon after exec (a Go server
// listens within milliseconds), then each gap 1.5 times the last, up
// to maxProbe, so a server listening after 2 s costs about 45 probes and
// is seen within 50 ms; a ready worker costs none.
const (
	firstProbe = 2 * time.Millisecond
	maxProbe   = 50 * time.Millisecond
)

// quickExit: a worker that exits this soon after it started, without
// having shown it serves, gets a hint in the log (once per cause).
const quickExit = time.Second

func (p *Pool) listening() bool { return p.cfg.ReadyListening && p.cfg.Probe != nil }

// probeAfter checks w's tree once d has passed. The check runs on the
// timer's goroutine, so reading /proc never holds up the pool; only its
// result is posted. Each probe arms the next only after the last has
// fired, so one field holds the pending one: a worker probed every 50 ms
// for a long DROVER_STARTUP_TIMEOUT does not collect timers.
func (p *Pool) probeAfter(w *worker, d time.Duration) {
	pid, slot := w.pid, w.slot.id
	t := p.env.afterFunc(d, func() {
		p.probes <- struct{}{}
		l, err := p.cfg.Probe.Listening(pid, slot)
		<-p.probes
		p.post(func() {
			if p.st.pids[w.pid] == w {
				p.probed(w, l, err, d)
			}
		})
	})
	w.probe = t
}

func (p *Pool) probed(w *worker, l Listen, err error, last time.Duration) {
	if w.phase != phaseStarting || w.asked() {
		return
	}
	w.shell = w.shell || l.Shell
	switch {
	case err != nil:
		// Without access to its /proc files drover cannot see it listen:
		// waiting would only end in the startup timeout.
		if !p.st.probeErr {
			p.st.probeErr = true
			p.cfg.Log.Warn("cannot tell whether workers listen; counting them ready once started, as DROVER_READY=started would",
				"worker", w.slot.id, "pid", w.pid, "err", err)
		}
		p.readyAfterDelay(w)
	case l.Listening:
		w.confirmed = true
		if p.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
			p.cfg.Log.Debug("worker listens", "worker", w.slot.id, "pid", w.pid, "how", l.How, "in", l.Pid,
				"after", p.env.now().Sub(w.started))
		}
		p.readyAfterDelay(w)
	default:
		p.probeAfter(w, min(last+last/2, maxProbe))
	}
}

func (p *Pool) readyAfterDelay(w *worker) {
	if p.cfg.ReadyDelay <= 0 {
		p.markReady(w)
		return
	}
	p.after(w, p.cfg.ReadyDelay, func() { p.markReady(w) })
}

// armStartup starts w's startup timeout. In listening mode the timer's
// goroutine also asks the probe what the worker does instead, for the log.
func (p *Pool) armStartup(w *worker) {
	if p.cfg.StartupTimeout <= 0 {
		return
	}
	pid, slot := w.pid, w.slot.id
	listening := p.listening() && !p.cfg.ReadyNotify
	t := p.env.afterFunc(p.cfg.StartupTimeout, func() {
		var found []string
		if listening {
			p.probes <- struct{}{}
			found = p.cfg.Probe.Explain(pid, slot)
			<-p.probes
		}
		p.post(func() {
			if p.st.pids[w.pid] == w && w.phase == phaseStarting {
				p.startupTimedOut(w, found)
			}
		})
	})
	w.startup = t
	w.timers = append(w.timers, t)
}

// startupTimedOut says what drover waited for, then stops the worker.
func (p *Pool) startupTimedOut(w *worker, found []string) {
	timeout := p.cfg.StartupTimeout
	var msg string
	switch {
	case p.cfg.ReadyNotify:
		msg = "worker sent no READY=1 on NOTIFY_SOCKET within " + timeout.String() +
			" (DROVER_READY=notify: does the server send sd_notify?); stopping it"
	case p.listening():
		msg = "worker did not start listening on " + p.cfg.Probe.Sockets(w.slot.id) + " within " + timeout.String() +
			"; is it using fd 3 / LISTEN_FDS? see docs/languages.md; stopping it"
	default:
		msg = "worker did not start its program within " + timeout.String() + "; stopping it"
	}
	args := []any{"worker", w.slot.id, "pid", w.pid, "DROVER_STARTUP_TIMEOUT", timeout}
	if len(found) > 0 {
		args = append(args, "found", strings.Join(found, "; "))
	}
	p.cfg.Log.Warn(msg, args...)
	p.stop(w, reasonStartup)
}

// Quick-exit causes, each explained once in the pool's life.
const (
	causeShell = "shell"
	causePort  = "port"
)

// quickExitHint explains a worker that ended within its first second
// without ever showing it serves, while drover hands out sockets: most
// likely it bound the port itself ("address already in use") or a shell
// ran the server without exec. One line per cause, not per restart.
func (p *Pool) quickExitHint(w *worker) {
	if p.cfg.Probe == nil || w.asked() || w.confirmed || w.started.IsZero() ||
		p.env.now().Sub(w.started) >= quickExit {
		return
	}
	cause := causePort
	if w.shell {
		cause = causeShell
	}
	if p.st.hinted[cause] {
		return
	}
	p.st.hinted[cause] = true
	socks := p.cfg.Probe.Sockets(w.slot.id)
	if cause == causeShell {
		p.cfg.Log.Warn("worker exited within 1s of starting; it is a shell that did not exec the server, so LISTEN_PID is the shell's pid and servers that check it (gunicorn, puma) ignore "+socks+
			": write `exec server …` in sh -c; see docs/languages.md", "worker", w.slot.id, "pid", w.pid)
		return
	}
	p.cfg.Log.Warn("worker exited within 1s of starting, before it listened on "+socks+
		"; if it bound the port itself (address already in use), make it use fd 3 / LISTEN_FDS; if a `sh -c` runs it without `exec`, LISTEN_PID is the shell's pid; see docs/languages.md",
		"worker", w.slot.id, "pid", w.pid)
}

// counts says whether slot s's worker counts towards readiness (/readyz)
// at now. Ready is enough for a worker that took over from a serving one
// (a reload must never make /readyz fail). Otherwise a worker whose
// readiness is only a guess (DROVER_READY=started without a delay: exec'd,
// and no READY=1) counts once it has run MinUptime, and in a slot whose last worker failed
// once it has stayed ready that long: a pool whose workers all crash
// within a second never passes, whatever the mode.
func (p *Pool) counts(s *slot, now time.Time) bool {
	w := s.cur
	switch {
	case w == nil || !w.serving(): // a stopped (TSTP) worker serves nobody
		return false
	case w.promoted:
		return true
	case !p.cfg.ReadyNotify && !p.listening() && p.cfg.ReadyDelay <= 0 && !w.confirmed &&
		now.Sub(w.started) < p.cfg.MinUptime:
		return false
	}
	return s.failures == 0 || now.Sub(w.readyAt) >= p.cfg.MinUptime
}
