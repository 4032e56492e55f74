// Package spawn is the worker pool: it starts N workers, restarts them with
// backoff, replaces them one by one on reload, forwards signals, and stops
// them on shutdown.
//
// One goroutine (Run) owns all pool state; every public method only posts a
// message to it. The operating system and the clock are reached only
// through env, so the policy is tested with a fake clock and fake
// processes. Exit statuses come from outside (the reaper, via Exited):
// this package never waits for a process itself, because a second waiter
// would steal statuses from the only one allowed.
package spawn

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// Policy says which worker exits are followed by a restart.
type Policy int

const (
	Always Policy = iota
	OnFailure
	Never
)

func (p Policy) String() string {
	return [...]string{"always", "on-failure", "never"}[p]
}

// ParsePolicy reads DROVER_RESTART.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "always":
		return Always, nil
	case "on-failure":
		return OnFailure, nil
	case "never":
		return Never, nil
	}
	return 0, fmt.Errorf("accepted: always, on-failure, never")
}

// Exit is a reaped worker, as the reaper saw it.
type Exit struct {
	Pid    int
	Status syscall.WaitStatus
}

// Usage is what a worker's process group costs right now.
type Usage struct {
	RSS        int64
	CPUSeconds float64
}

// Config is everything the pool needs; main fills it from DROVER_*.
type Config struct {
	Workers        int
	Restart        Policy
	BackoffMin     time.Duration // delay after the second failure in a row (the first restarts at once)
	BackoffMax     time.Duration
	ResetAfter     time.Duration // ready this long: the failure count starts over
	MinUptime      time.Duration // a clean exit sooner than this after ready is a failure
	CrashLimit     int           // consecutive failures of a slot before giving up; 0 never
	StopSignal     syscall.Signal
	StopTimeout    time.Duration
	ReadyDelay     time.Duration
	ReadyNotify    bool // ready on READY=1 instead of after ReadyDelay
	StartupTimeout time.Duration
	Watchdog       time.Duration
	MaxMemory      int64

	// Env is the environment of every worker; the pool adds
	// DROVER_WORKER_ID and DROVER_WORKERS.
	Env []string
	// Files returns the sockets a slot's worker inherits as fds 3, 4, ….
	Files func(slot int) ([]*os.File, error)
	// Release is called once a removed slot has no worker left.
	Release func(slot int)
	Starter Starter
	// MaxWorkers is the hard upper bound of the pool (from pids.max,
	// RLIMIT_NPROC and DROVER_WORKERS_MAX); 0 means no bound.
	MaxWorkers int
	// ReadyListening: ready once Probe finds the worker's tree waiting for
	// connections on its sockets (then ReadyDelay later), or on READY=1.
	// ReadyNotify wins over it. StartupTimeout 0 means no limit.
	ReadyListening bool
	// Probe looks into a worker's process tree; nil without sockets. With
	// it, a worker that exits in its first second gets a hint.
	Probe Probe
	Log   *slog.Logger
}

func (c *Config) defaults() {
	if c.Workers < 1 {
		c.Workers = 1
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.ResetAfter <= 0 {
		c.ResetAfter = 30 * time.Second
	}
	if c.MinUptime <= 0 {
		c.MinUptime = time.Second
	}
	if c.StopSignal == 0 {
		c.StopSignal = syscall.SIGTERM
	}
	if c.Files == nil {
		c.Files = func(int) ([]*os.File, error) { return nil, nil }
	}
	if c.Release == nil {
		c.Release = func(int) {}
	}
	if c.MaxWorkers > 0 && c.Workers > c.MaxWorkers {
		c.Workers = c.MaxWorkers
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Result is how the pool ended, as drover's exit code.
type Result struct {
	Code   int
	Reason string
}

// Pool is the worker pool. Create with New, drive with Run.
type Pool struct {
	cfg   Config
	env   env
	inbox chan msg
	done  chan struct{}
	st    state
	// probes lets one probe read /proc at a time: 400 workers starting at
	// once must not become 400 threads blocked in /proc reads.
	probes chan struct{}
}

// msg is one unit of work for the owner goroutine: a closure, or (f nil) a
// reaped pid, which is by far the most frequent and needs no allocation.
type msg struct {
	f     func()
	exit  Exit
	exits []Exit // a burst of reaped pids (orphans exiting together)
}

// New checks the config; nothing starts before Run.
func New(cfg Config) (*Pool, error) {
	return newPool(cfg, osEnv{proc: procfs.DefaultMountPoint})
}

func newPool(cfg Config, e env) (*Pool, error) {
	if cfg.Starter == nil {
		return nil, fmt.Errorf("spawn: no Starter")
	}
	cfg.defaults()
	p := &Pool{cfg: cfg, env: e, inbox: make(chan msg, 1024), done: make(chan struct{}), probes: make(chan struct{}, 1)}
	p.st.init()
	return p, nil
}

// post hands f to the owner goroutine; after Run has returned, f is dropped.
func (p *Pool) post(f func()) { p.send(msg{f: f}) }

func (p *Pool) send(m msg) {
	select {
	case p.inbox <- m:
	case <-p.done:
	}
}

// Done is closed when Run has returned.
func (p *Pool) Done() <-chan struct{} { return p.done }

// Exited reports a reaped process. Pids the pool never started are orphans.
func (p *Pool) Exited(e Exit) { p.send(msg{exit: e}) }

// ExitedAll reports a burst of reaped processes in one message: 10,000
// orphans exiting at once cost the pool one wake-up per burst, not per pid.
func (p *Pool) ExitedAll(es []Exit) {
	switch len(es) {
	case 0:
	case 1:
		p.Exited(es[0])
	default:
		p.send(msg{exits: es})
	}
}

// Shutdown starts the graceful stop: the pool reports draining at once,
// keeps serving for drain, then stops every worker. A second call stops
// at once.
func (p *Pool) Shutdown(drain time.Duration) { p.post(func() { p.shutdown(drain) }) }

// Signal forwards sig to every worker.
func (p *Pool) Signal(sig syscall.Signal) { p.post(func() { p.forward(sig) }) }

// Scale adds (+1) or removes (-1) a worker (SIGTTIN / SIGTTOU). Adding
// beyond MaxWorkers and removing the last worker are refused with a log line.
func (p *Pool) Scale(delta int) { p.post(func() { p.scale(delta) }) }

// SetDesired grows or shrinks the pool to n workers, clamped to
// [1, MaxWorkers], the way Scale does one step at a time; why is logged and
// shown in snapshots (e.g. "cpu budget 1 -> 2 (cgroup v1 quota)").
func (p *Pool) SetDesired(n int, why string) { p.post(func() { p.setDesired(n, why) }) }

// Reload replaces every worker, one slot at a time, never lowering the
// number of ready workers.
func (p *Pool) Reload() { p.post(func() { p.reload() }) }

// Notify passes on an sd_notify message from pid (a worker or its child).
func (p *Pool) Notify(pid int, fields map[string]string) {
	p.post(func() { p.notify(pid, fields) })
}

// SetUsage records resource usage by worker pid; over MaxMemory means replace.
func (p *Pool) SetUsage(u map[int]Usage) { p.post(func() { p.usage(u) }) }

// Pids lists the live workers, for usage sampling.
func (p *Pool) Pids(ctx context.Context) ([]int, error) {
	return ask(ctx, p, p.pids)
}

// Snapshot asks the owner goroutine for the pool's state. It fails when the
// loop does not answer in time, which is what liveness must see.
func (p *Pool) Snapshot(ctx context.Context) (State, error) {
	return ask(ctx, p, p.snapshot)
}

// ask runs f on the owner goroutine and waits for its answer, giving up
// when ctx ends or the pool has stopped.
func ask[T any](ctx context.Context, p *Pool, f func() T) (T, error) {
	reply := make(chan T, 1)
	p.post(func() { reply <- f() })
	var zero T
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("supervision loop did not answer: %w", ctx.Err())
	case <-p.done:
		return zero, fmt.Errorf("pool has stopped")
	}
}

// Run starts the workers and supervises them until the pool is finished:
// shut down, given up, or (restart never/on-failure) every worker done.
func (p *Pool) Run() Result {
	defer close(p.done)
	for i := 0; i < p.cfg.Workers; i++ {
		p.addSlot()
	}
	p.st.desired = p.cfg.Workers
	for _, s := range p.st.slots {
		// Starting many workers takes a while: a TERM, a reaped pid or a
		// snapshot must not wait for all of them.
		p.handleQueued()
		if p.st.stopping || p.st.finished {
			break
		}
		if s.cur == nil && !s.waiting() && !s.removed {
			p.start(s, "")
		}
	}
	p.st.booted = true
	p.maybeFinish()
	for !p.st.finished {
		p.handle(<-p.inbox)
	}
	return p.st.result
}

func (p *Pool) handle(m msg) {
	switch {
	case m.f != nil:
		m.f()
	case m.exits != nil:
		for _, e := range m.exits {
			p.exited(e)
		}
	default:
		p.exited(m.exit)
	}
}

// handleQueued handles what has arrived so far, without waiting.
func (p *Pool) handleQueued() {
	for {
		select {
		case m := <-p.inbox:
			p.handle(m)
		default:
			return
		}
	}
}

// workerEnv is the environment of a new worker in slot.
func (p *Pool) workerEnv(slot int) []string {
	env := make([]string, 0, len(p.cfg.Env)+2)
	for _, kv := range p.cfg.Env {
		if hasKey(kv, "DROVER_WORKER_ID") || hasKey(kv, "DROVER_WORKERS") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"DROVER_WORKER_ID="+strconv.Itoa(slot),
		"DROVER_WORKERS="+strconv.Itoa(p.st.desired))
}

func hasKey(kv, k string) bool {
	return len(kv) > len(k) && kv[len(k)] == '=' && kv[:len(k)] == k
}
