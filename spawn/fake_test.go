package spawn

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeEnv is a manual clock and a recording process killer: timers fire
// only when the test advances the clock, on the test's goroutine, and they
// only post to the pool, so the order of events is the test's.
type fakeEnv struct {
	mu      sync.Mutex
	t       time.Time
	timers  []*fakeTimer
	kills   []sent // process-group signals (stop, SIGKILL)
	sigs    []sent // forwarded signals
	parents map[int][]int
	// onSignal sees every forwarded signal (storm tests check whom it hit).
	onSignal func(pid int, sig syscall.Signal)
}

type sent struct {
	pid int
	sig syscall.Signal
}

type fakeTimer struct {
	env     *fakeEnv
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	t.env.mu.Lock()
	defer t.env.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func newFakeEnv() *fakeEnv {
	return &fakeEnv{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), parents: map[int][]int{}}
}

func (e *fakeEnv) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.t
}

func (e *fakeEnv) afterFunc(d time.Duration, f func()) timer {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := &fakeTimer{env: e, at: e.t.Add(d), f: f}
	e.timers = append(e.timers, t)
	return t
}

func (e *fakeEnv) kill(pid int, sig syscall.Signal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kills = append(e.kills, sent{pid, sig})
	return nil
}

func (e *fakeEnv) signal(pid int, sig syscall.Signal) error {
	e.mu.Lock()
	e.sigs = append(e.sigs, sent{pid, sig})
	f := e.onSignal
	e.mu.Unlock()
	if f != nil {
		f(pid, sig)
	}
	return nil
}

func (e *fakeEnv) owners(pid int) []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.parents[pid]
}

// pending counts timers that have neither fired nor been stopped.
func (e *fakeEnv) pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, t := range e.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// due takes the earliest live timer at or before until, moving the clock to it.
func (e *fakeEnv) due(until time.Time) *fakeTimer {
	e.mu.Lock()
	defer e.mu.Unlock()
	sort.SliceStable(e.timers, func(i, j int) bool { return e.timers[i].at.Before(e.timers[j].at) })
	for i, t := range e.timers {
		if t.stopped {
			continue
		}
		if t.at.After(until) {
			break
		}
		e.timers = append(e.timers[:i:i], e.timers[i+1:]...)
		t.stopped = true
		e.t = t.at
		return t
	}
	e.t = until
	return nil
}

// fakeStarter hands out pids; a queued error fails the next start.
type fakeStarter struct {
	mu     sync.Mutex
	next   int
	errs   []error
	gated  bool // Execd stays open until the test execs the worker
	execd  map[int]chan struct{}
	envs   map[int][]string
	starts int
}

func (f *fakeStarter) Start(env []string, files []*os.File) (Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		if err != nil {
			return Process{}, err
		}
	}
	f.next++
	pid := 1000 + f.next
	c := make(chan struct{})
	if !f.gated {
		close(c)
	}
	f.execd[pid] = c
	f.envs[pid] = env
	return Process{Pid: pid, Execd: c}, nil
}

func (f *fakeStarter) fail(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, errs...)
}

type harness struct {
	t     *testing.T
	p     *Pool
	env   *fakeEnv
	start *fakeStarter
	res   chan Result
	logs  *logBuf
}

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count is how many log lines contain s.
func (l *logBuf) count(s string) int { return strings.Count(l.String(), s) }

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	return newHarnessEnv(t, cfg, newFakeEnv())
}

func newHarnessEnv(t *testing.T, cfg Config, env *fakeEnv) *harness {
	t.Helper()
	h := &harness{t: t, env: env, res: make(chan Result, 1), logs: &logBuf{}}
	if cfg.Starter == nil {
		cfg.Starter = &fakeStarter{}
	}
	h.start, _ = cfg.Starter.(*fakeStarter)
	if h.start != nil {
		h.start.execd, h.start.envs = map[int]chan struct{}{}, map[int][]string{}
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	cfg.Log = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := newPool(cfg, h.env)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	go func() { h.res <- p.Run() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.logs.String())
		}
	})
	h.boot()
	return h
}

// boot waits until Run has gone through its initial starts.
func (h *harness) boot() {
	h.t.Helper()
	h.waitFor("the initial starts", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		booted, err := ask(ctx, h.p, func() bool { return h.p.st.booted })
		return booted || err != nil
	})
}

// sync waits until the owner goroutine has handled everything posted so far.
func (h *harness) sync() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := ask(ctx, h.p, func() struct{} { return struct{}{} })
	if err != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return // the pool has finished
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

// advance moves the clock, firing due timers in order, each handled before the next.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.sync() // what the test posted happens before the clock moves
	until := h.env.now().Add(d)
	for {
		t := h.env.due(until)
		if t == nil {
			break
		}
		t.f()
		h.sync()
	}
	h.sync()
}

func (h *harness) snap() State {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.p.Snapshot(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) live() []int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pids, err := h.p.Pids(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return pids
}

// only is the one live worker's pid.
func (h *harness) only() int {
	h.t.Helper()
	pids := h.live()
	if len(pids) != 1 {
		h.t.Fatalf("live workers %v, want exactly one", pids)
	}
	return pids[0]
}

// exit reaps pid with exit code c; die reaps it killed by sig.
func (h *harness) exit(pid, c int) {
	h.p.Exited(Exit{Pid: pid, Status: syscall.WaitStatus(c << 8)})
	h.sync()
}

func (h *harness) die(pid int, sig syscall.Signal) {
	h.p.Exited(Exit{Pid: pid, Status: syscall.WaitStatus(sig)})
	h.sync()
}

// obey reaps every worker that was sent a process-group signal, as if each
// had ended by it.
func (h *harness) obey() {
	h.t.Helper()
	h.sync()
	h.env.mu.Lock()
	kills := h.env.kills
	h.env.kills = nil
	h.env.mu.Unlock()
	seen := map[int]bool{}
	for _, k := range kills {
		if !seen[k.pid] {
			seen[k.pid] = true
			h.p.Exited(Exit{Pid: k.pid, Status: syscall.WaitStatus(k.sig)})
		}
	}
	h.sync()
}

// killsOf lists the process-group signals pid got so far.
func (h *harness) killsOf(pid int) []syscall.Signal {
	h.env.mu.Lock()
	defer h.env.mu.Unlock()
	var out []syscall.Signal
	for _, k := range h.env.kills {
		if k.pid == pid {
			out = append(out, k.sig)
		}
	}
	return out
}

func (h *harness) execd(pid int) {
	h.t.Helper()
	h.sync()
	timers := h.env.pending()
	h.start.mu.Lock()
	c := h.start.execd[pid]
	h.start.mu.Unlock()
	close(c)
	// The pool learns of it on another goroutine: wait for the effect (the
	// worker ready, or its ready delay running). Notify mode has none.
	h.waitFor("the pool to see pid "+itoa(pid)+" exec", func() bool {
		switch {
		case h.p.cfg.ReadyNotify:
			return true
		case h.p.cfg.ReadyDelay > 0 || h.p.listening():
			return h.env.pending() > timers
		}
		for _, w := range h.snap().Workers {
			if w.Pid == pid {
				return w.State != "starting"
			}
		}
		return true
	})
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // an exec seen on the pool's own goroutine: no event to await
	}
}

func (h *harness) result() Result {
	h.t.Helper()
	select {
	case r := <-h.res:
		return r
	case <-time.After(5 * time.Second):
		h.t.Fatal("pool did not finish")
		return Result{}
	}
}

func (h *harness) worker(pid int) WorkerState {
	h.t.Helper()
	for _, w := range h.snap().Workers {
		if w.Pid == pid {
			return w
		}
	}
	h.t.Fatalf("no worker %d", pid)
	return WorkerState{}
}

// slotPid is the pid of the slot's oldest live worker.
func (h *harness) slotPid(slot int) int {
	h.t.Helper()
	for _, w := range h.snap().Workers {
		if w.Slot == slot && w.Pid != 0 {
			return w.Pid
		}
	}
	h.t.Fatalf("slot %d has no worker", slot)
	return 0
}
