package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/internal/launch"
	"github.com/drover-init/drover/listener"
	"github.com/drover-init/drover/internal/notify"
	"github.com/drover-init/drover/reaper"
	"github.com/drover-init/drover/spawn"
	"github.com/drover-init/drover/internal/threads"
	"github.com/drover-init/drover/internal/sockwait"
	"github.com/drover-init/drover/internal/usage"
)

// spareThreads is how many idle threads drover keeps for its system calls:
// the reaper's wait, a fork, /proc and cgroup reads and the health
// server's, with room to spare.
const spareThreads = 16

// lazySetup is when the start-up work no short run needs is done: a
// real-time signal sent to drover in its first 10 ms is not forwarded.
const lazySetup = 10 * time.Millisecond

// daemon is everything a running drover is made of. build makes all of it
// before anything runs, so that every start-up failure (a taken port, an
// unusable notify socket) is reported the same way and nothing has started.
type daemon struct {
	s       *Settings
	log     *slog.Logger
	sigs    chan os.Signal
	rp      *reaper.Reaper
	set     *listener.Set
	pool    *spawn.Pool
	srv     *health.Server
	budget  *budget
	notify  *notify.Socket
	usage   *usage.Reader // nil when /proc cannot be read: no figures
	lazy    *time.Timer
	closers []func()
}

// close releases what build acquired, in reverse order.
func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// build prepares the daemon. On error everything already acquired is
// released and the error is one line for the log.
func build(s *Settings, path string, argv, environ []string, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{s: s, log: log}
	defer func() {
		if err != nil {
			d.close()
		}
	}()

	// Subscribe to every standard signal before any worker starts, so none
	// is lost or fatal. Each subscription is a round trip to the Go
	// runtime's signal thread (about 40 µs), so the 30 real-time signals,
	// which no default can make fatal here (the runtime drops them until
	// they are subscribed), follow lazySetup later: they would double what
	// `drover -- true` costs. No signal.Stop at exit: drover exits right
	// after, and unsubscribing costs the same again.
	d.sigs = make(chan os.Signal, 64)
	std, rt := splitRealtime(launch.InheritedSignals().Filter(catchable()))
	signal.Notify(d.sigs, std...)
	// Then the spare threads that keep a full pids cgroup from aborting the
	// runtime (the worker cap keeps room for them). A supervisor makes them
	// before its first worker can fork (about 0.8 ms): a fork bomb fills a
	// small cgroup within milliseconds. Plain-init mode makes them with the
	// real-time subscriptions, so a short run (drover -- true) pays for
	// neither; its child has those 10 ms to fill the cgroup first.
	supervisor := s.Pool || s.HealthAddr != "" // long-running: sized, spare threads first
	if supervisor {
		threads.Reserve(spareThreads)
	}
	d.lazy = time.AfterFunc(lazySetup, func() {
		signal.Notify(d.sigs, rt...)
		if !supervisor {
			threads.Reserve(spareThreads)
		}
	})
	d.closers = append(d.closers, func() { d.lazy.Stop() })
	guard := setUncatchable(true)

	if err := launch.SealFDs(); err != nil {
		log.Warn("cannot mark inherited fds close-on-exec; workers may inherit them", "err", err)
	}
	if err := reaper.Subreaper(); err != nil {
		log.Warn("cannot become a child subreaper; orphans of workers will not be reaped", "err", err)
	}
	d.rp = reaper.New()

	if d.set, err = listener.Open(s.Listen, listener.Options{ReusePort: s.Reuseport}); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { d.set.Close() })
	if len(s.Listen) > 0 {
		// The actual addresses: ports chosen by the kernel (":0") and the
		// address behind an inherited fd are known only now.
		log.Info("listening", "addrs", listenAddrs(d.set), "reuseport", s.Reuseport)
	}

	d.budget = newBudget(s, log)
	workers := 1
	if s.Pool {
		if err := d.budget.checkLimit(); err != nil {
			return nil, err
		}
	}
	if supervisor {
		workers = d.budget.size()
	}

	env := append(workerEnviron(environ), d.set.Env()...)
	var pidVars []string
	if len(s.Listen) > 0 {
		pidVars = append(pidVars, "LISTEN_PID")
	}
	if s.Ready == "notify" || s.Watchdog > 0 {
		sock, cleanup := notifyPath()
		d.closers = append(d.closers, cleanup)
		if d.notify, err = notify.Listen(sock); err != nil {
			return nil, fmt.Errorf("cannot create the sd_notify socket for DROVER_READY=notify / DROVER_WATCHDOG: %w", err)
		}
		d.closers = append(d.closers, func() { d.notify.Close() })
		env = append(env, "NOTIFY_SOCKET="+sock)
	}
	if s.Watchdog > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(s.Watchdog.Microseconds(), 10))
		pidVars = append(pidVars, "WATCHDOG_PID")
	}

	starter := &launch.Exec{
		Path: path, Args: argv, Lock: d.rp.ForkLock(), Credential: s.Credential,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Foreground: !s.Pool && ownsTerminal(),
	}
	if len(pidVars) > 0 {
		// LISTEN_PID and WATCHDOG_PID must be the worker's own pid, which is
		// only known after fork: drover re-executes itself as a shim that
		// sets them and execs the command.
		starter.Shim, starter.PidVars = "/proc/self/exe", pidVars
		if st, err := os.Stat("/bin/sh"); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			starter.Sh = "/bin/sh" // the fast path where it is safe; none in FROM scratch images
		}
	}
	pr := newProbe(d.set, log)
	d.pool, err = spawn.New(spawn.Config{
		Workers:        workers,
		MaxWorkers:     d.budget.maxWorkers(workers),
		Restart:        s.Restart,
		BackoffMax:     s.BackoffMax,
		CrashLimit:     s.CrashLimit,
		StopSignal:     s.StopSignal,
		StopTimeout:    s.StopTimeout,
		ReadyDelay:     s.ReadyDelay,
		ReadyNotify:    s.Ready == "notify",
		ReadyListening: s.Ready == "listening",
		Probe:          probeOrNil(pr),
		StartupTimeout: s.StartupTimeout,
		Watchdog:       s.Watchdog,
		MaxMemory:      int64(s.MaxMemory),
		Env:            env,
		Files:          pr.files,
		Release:        pr.release(releaseSlot(d.set, log)),
		Starter:        launchStarter{starter, guard},
		Log:            log,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot set up the pool: %w", err)
	}

	if d.usage, err = usage.New("/proc"); err != nil {
		log.Warn("worker memory and CPU will not be shown", "err", err)
		err = nil
	}
	if s.HealthAddr != "" {
		if err := checkHealthAddr(s.HealthAddr, d.set.Addrs()); err != nil {
			return nil, err
		}
		src := poolSource{pool: d.pool, usage: d.usage, cpu: d.budget.view, minReady: s.MinReady, started: time.Now()}
		names := healthNames()
		d.srv, err = health.New(health.Options{
			Addr: s.HealthAddr, Source: src, Logger: log, Names: names,
			Gatherer: health.NewRegistry(src, buildVersion(), names),
		})
		if err != nil {
			return nil, err
		}
		log.Info("health server listening", "addr", d.srv.Addr().String())
	}
	return d, nil
}

// launchStarter adapts internal/launch to the pool's Starter.
type launchStarter struct {
	x *launch.Exec
	// guard: drover ignores signals 32 and 34 itself (see setUncatchable)
	// and must not hand that on.
	guard bool
}

func (l launchStarter) Start(env []string, files []*os.File) (spawn.Process, error) {
	// Only the pool's goroutine starts workers, so nothing else forks while
	// the two signals are briefly at their default.
	if l.guard {
		setUncatchable(false)
		defer setUncatchable(true)
	}
	p, err := l.x.Start(env, files)
	return spawn.Process{Pid: p.Pid, Execd: p.Execd}, err
}

// probe adapts internal/sockwait to the pool's Probe: a slot's worker
// listens when its tree waits on one of the slot's sockets. It learns each
// slot's sockets when the pool asks for them to start a worker, so a probe
// never opens a slot's sockets itself (with DROVER_REUSEPORT that would
// bring back a removed slot's socket, with nobody accepting on it).
type probe struct {
	c   *sockwait.Checker // nil: no sockets, or no /proc
	set *listener.Set
	mu  sync.Mutex
	ids map[int][]sockwait.Socket
}

func newProbe(set *listener.Set, log *slog.Logger) *probe {
	pr := &probe{set: set, ids: map[int][]sockwait.Socket{}}
	if len(set.Addrs()) == 0 {
		return pr
	}
	c, err := sockwait.New("/proc")
	if err != nil {
		log.Warn("cannot see whether workers listen; DROVER_READY=listening counts them ready once started", "err", err)
		return pr
	}
	pr.c = c
	return pr
}

// probeOrNil is the pool's Probe, nil (not a nil *probe) without one.
func probeOrNil(pr *probe) spawn.Probe {
	if pr.c == nil {
		return nil
	}
	return pr
}

// files hands a slot's sockets to the pool and notes their identities.
func (p *probe) files(slot int) ([]*os.File, error) {
	files, err := p.set.Files(slot)
	if err != nil || p.c == nil {
		return files, err
	}
	ids := make([]sockwait.Socket, 0, len(files))
	for _, f := range files {
		if s, err := sockwait.Of(f); err == nil {
			ids = append(ids, s)
		}
	}
	p.mu.Lock()
	p.ids[slot] = ids
	p.mu.Unlock()
	return files, nil
}

// release forgets a removed slot's sockets, then closes them.
func (p *probe) release(next func(int)) func(int) {
	return func(slot int) {
		p.mu.Lock()
		delete(p.ids, slot)
		p.mu.Unlock()
		next(slot)
	}
}

func (p *probe) socks(slot int) []sockwait.Socket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids[slot]
}

func (p *probe) Listening(pid, slot int) (spawn.Listen, error) {
	r, err := p.c.Check(pid, p.socks(slot))
	return spawn.Listen{Listening: r.Listening, Pid: r.Pid, How: string(r.How), Shell: r.Shell}, err
}

func (p *probe) Explain(pid, slot int) []string { return p.c.Explain(pid, p.socks(slot)) }

func (p *probe) Sockets(slot int) string {
	var b strings.Builder
	for i, a := range p.set.Addrs() {
		if i > 0 {
			b.WriteString(", ")
		}
		switch a := a.(type) {
		case *net.TCPAddr:
			b.WriteString("tcp://" + a.String())
		case *net.UnixAddr:
			b.WriteString("unix://" + a.Name)
		default:
			b.WriteString(a.String())
		}
		fmt.Fprintf(&b, " (fd %d)", 3+i)
	}
	return b.String()
}
