package spawn

import (
	"syscall"
	"time"
)

// Stop reasons; the ones that are also restart reasons show in metrics.
const (
	reasonExit     = "exit"
	reasonReload   = "reload"
	reasonMemory   = "memory"
	reasonWatchdog = "watchdog"
	reasonStartup  = "startup-timeout"
	reasonScale    = "scale"
	reasonShutdown = "shutdown"
)

// worker is one process. It belongs to a slot; during a replacement a slot
// has two (cur serving, next starting) and stopped ones linger until reaped.
type worker struct {
	slot    *slot
	pid     int
	gen     int
	started time.Time
	execd   bool
	pending []syscall.Signal // forwarded before exec: delivered once execd

	ready    bool
	readyAt  time.Time
	status   string // STATUS= from sd_notify
	quitting bool   // sent STOPPING=1: going down on its own
	lastPing time.Time
	watched  bool // the watchdog timer runs
	usage    Usage

	stopping   bool
	stopReason string
	killed     bool // had to be SIGKILLed after the stop timeout
	purpose    string

	timers []*time.Timer
}

func (w *worker) cancelTimers() {
	for _, t := range w.timers {
		t.Stop()
	}
	w.timers = nil
}

// slot is a stable worker identity (DROVER_WORKER_ID) that survives restarts.
type slot struct {
	id       int
	cur      *worker // the worker serving this slot
	next     *worker // its replacement, until ready
	failures int     // consecutive failed starts
	restarts int
	lastExit string
	backoff  *time.Timer
	waiting  bool // a restart is scheduled
	done     bool // finished for good (restart never / on-failure after success)
	removed  bool // scaled away; released once its workers are gone
}

type state struct {
	slots    []*slot
	pids     map[int]*worker
	desired  int
	gen      int
	draining bool
	stopping bool
	drainT   *time.Timer

	reloading     bool
	reloadPending bool

	restarts map[string]uint64
	signals  map[syscall.Signal]uint64
	orphans  uint64

	lastCode   int
	anyKilled  bool
	gaveUp     bool
	giveUpCode int
	finished   bool
	result     Result
}

func (s *state) init() {
	s.pids = map[int]*worker{}
	s.restarts = map[string]uint64{}
	s.signals = map[syscall.Signal]uint64{}
}

// workers of a slot that are still alive.
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

// describe says how a process ended, for logs and /status.
func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + SignalName(ws.Signal())
	}
	return "exit " + itoa(ws.ExitStatus())
}
