package spawn

import (
	"syscall"
	"time"
)

// phase is where a worker (or a slot without one) stands. The names are
// what /status and the drover_workers{state} metric show.
type phase int

const (
	// phaseStarting: forked; the user's program is not ready yet.
	phaseStarting phase = iota
	// phaseReady: serving; forwarded signals go straight to it.
	phaseReady
	// phaseStopping: on its way out, either because drover asked
	// (stopReason set) or because it said STOPPING=1 itself.
	phaseStopping
	// phaseBackoff: a slot with no worker, waiting to start one.
	phaseBackoff
	// phaseExited: a slot finished for good (restart never/on-failure).
	phaseExited
	numPhases
)

func (ph phase) String() string {
	switch ph {
	case phaseStarting:
		return "starting"
	case phaseReady:
		return "ready"
	case phaseStopping:
		return "stopping"
	case phaseBackoff:
		return "backoff"
	case phaseExited:
		return "exited"
	}
	return "unknown"
}

// stateStopped is what a snapshot shows for a ready worker that job
// control has stopped (TSTP): it serves nothing until CONT.
const stateStopped = "stopped"

// States lists every state name a snapshot can show, for metrics that must
// export a zero for the states nobody is in.
func States() []string {
	out := make([]string, 0, numPhases+1)
	for ph := phase(0); ph < numPhases; ph++ {
		out = append(out, ph.String())
	}
	return append(out, stateStopped)
}

// Restart reasons: why a slot got a new worker. They label
// drover_worker_restarts_total.
const (
	reasonExit     = "exit"
	reasonReload   = "reload"
	reasonMemory   = "memory"
	reasonWatchdog = "watchdog"
	reasonStartup  = "startup-timeout"
	reasonOOM      = "oom"
)

// Stop-only reasons: the worker is not replaced.
const (
	reasonScale    = "scale"
	reasonShutdown = "shutdown"
)

// Reasons lists every restart reason a snapshot can count.
func Reasons() []string {
	return []string{reasonExit, reasonReload, reasonMemory, reasonWatchdog, reasonStartup, reasonOOM}
}

// maxHeld bounds the signals held for a worker that is not ready yet; a
// storm cannot grow the pool's memory.
const maxHeld = 64

// worker is one process. It belongs to a slot; during a replacement a slot
// has two (cur serving, next starting) and stopped ones linger until reaped.
type worker struct {
	slot    *slot
	pid     int
	gen     int
	phase   phase
	started time.Time
	readyAt time.Time
	// held are signals forwarded before the worker was ready: its program
	// may not have set its handlers yet, and a default action could kill it.
	held     []syscall.Signal
	status   string // STATUS= from sd_notify
	lastPing time.Time
	usage    Usage

	// suspended: drover sent it a job-control stop (TSTP, TTIN, TTOU) and
	// no CONT since. It is not ready while so, and a stop must wake it.
	suspended bool

	stopReason string // set when drover asked it to stop
	killed     bool   // had to be SIGKILLed after the stop timeout
	sigkilled  bool   // drover sent it SIGKILL, for whatever reason
	oom        bool   // died of SIGKILL from the kernel's OOM killer
	purpose    string // why it replaces the slot's worker; "" for the slot's own

	gone     chan struct{} // closed when reaped: ends the wait for exec
	timers   []timer       // one-shot: startup timeout, ready delay, stop timeout
	watchdog timer
	probe    timer // the pending readiness probe (DROVER_READY=listening)
	startup  timer // the startup timeout, stopped once ready

	// confirmed: the program itself showed it serves (the probe saw it
	// listen, or it sent READY=1), not only that it was exec'd.
	confirmed bool
	// shell: the probe saw a shell that did not exec the server.
	shell bool
	// promoted: it took over from a serving worker (reload, memory).
	promoted bool
}

// asked says drover has told the worker to stop; only once per worker.
func (w *worker) asked() bool { return w.stopReason != "" }

func (w *worker) ready() bool { return w.phase == phaseReady }

// serving is ready and not stopped by job control.
func (w *worker) serving() bool { return w.ready() && !w.suspended }

// state is the name a snapshot shows.
func (w *worker) state() string {
	if w.phase == phaseReady && w.suspended {
		return stateStopped
	}
	return w.phase.String()
}

func (w *worker) cancelTimers() {
	for _, t := range w.timers {
		t.Stop()
	}
	w.timers = nil
	if w.watchdog != nil {
		w.watchdog.Stop()
	}
	if w.probe != nil {
		w.probe.Stop()
	}
}

// slot is a stable worker identity (DROVER_WORKER_ID) that survives restarts.
type slot struct {
	id       int
	cur      *worker // the worker serving this slot
	next     *worker // its replacement, until ready
	failures int     // consecutive failed starts
	retries  int     // consecutive start attempts refused for lack of resources
	restarts int
	lastExit string
	backoff  timer // at most one pending start per slot
	done     bool  // finished for good (restart never / on-failure after success)
	removed  bool  // scaled away; released once its workers are gone
}

func (s *slot) waiting() bool { return s.backoff != nil }

func (s *slot) cancelBackoff() {
	if s.backoff != nil {
		s.backoff.Stop()
		s.backoff = nil
	}
}

type state struct {
	slots    []*slot
	pids     map[int]*worker
	desired  int
	gen      int
	draining bool
	stopping bool
	drainT   timer

	reloading     bool
	reloadPending bool

	restarts map[string]uint64
	signals  map[syscall.Signal]uint64
	orphans  uint64

	// cpuDone is the CPU time of a slot's reaped workers; cpuSeen the highest
	// total reported, so the per-slot counter never goes down.
	cpuDone map[int]float64
	cpuSeen map[int]float64

	resizes    uint64
	resizeWhy  string
	resizeAt   time.Time
	startFails bool // in a streak of start attempts refused for lack of resources

	booted     bool // the initial workers have been started (or a stop cut that short)
	failed     bool // a worker failed (restart never: the result is the first failure's)
	failCode   int
	anyKilled  bool
	gaveUp     bool
	giveUpCode int
	finished   bool
	result     Result

	hinted   map[string]bool // quick-exit causes already explained in the log
	probeErr bool            // a probe failed: said once
}

func (s *state) init() {
	s.pids = map[int]*worker{}
	s.restarts = map[string]uint64{}
	s.signals = map[syscall.Signal]uint64{}
	s.cpuDone = map[int]float64{}
	s.cpuSeen = map[int]float64{}
	s.hinted = map[string]bool{}
}

// alive counts a slot's workers that are not reaped yet.
func (s *slot) alive(st *state) int {
	n := 0
	for _, w := range st.pids {
		if w.slot == s {
			n++
		}
	}
	return n
}

// code is the shell convention: exit code, or 128+signal.
func code(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// describeWorker is describe, naming the OOM killer where it struck.
func describeWorker(w *worker, ws syscall.WaitStatus) string {
	if w.oom {
		return describe(ws) + " (OOM killer)"
	}
	return describe(ws)
}

// describe says how a process ended, for logs and /status.
func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + SignalName(ws.Signal())
	}
	return "exit " + itoa(ws.ExitStatus())
}
