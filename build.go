package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/internal/config"
	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/internal/launch"
	"github.com/drover-init/drover/internal/notify"
	"github.com/drover-init/drover/internal/threads"
	"github.com/drover-init/drover/internal/usage"
	"github.com/drover-init/drover/listener"
	"github.com/drover-init/drover/reaper"
	"github.com/drover-init/drover/spawn"
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
	s   *config.Settings
	log *slog.Logger
	// supervisor: drover runs for long (a pool, or a health server), so it
	// sizes itself from the CPU budget and makes its spare threads first.
	supervisor bool

	sigs    chan os.Signal
	guard   bool // signals 32 and 34 were at their default: see setUncatchable
	rp      *reaper.Reaper
	set     *listener.Set
	budget  *budget
	workers int      // the pool's first size
	env     []string // every worker's environment, but for its own variables
	pidVars []string // variables that must be the worker's own pid
	notify  *notify.Socket
	starter *launch.Exec
	pool    *spawn.Pool
	usage   *usage.Reader  // nil when /proc cannot be read: no figures
	oom     *cpus.OOMWatch // nil in plain-init mode: names OOM kills of workers
	// logDropped counts drover's own log lines stderr did not take.
	logDropped func() uint64
	srv        *health.Server
	lazy       *time.Timer
	closers    []func()
}

// close releases what build acquired, in reverse order.
func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// build prepares the daemon in steps, each of which may fail only before
// anything has started. On error everything already acquired is released
// and the error is one line for the log.
func build(s *config.Settings, listen []listener.Spec, path string, argv, environ []string, log *slog.Logger, logDropped func() uint64) (_ *daemon, err error) {
	d := &daemon{s: s, log: log, logDropped: logDropped, supervisor: s.Pool || s.HealthAddr != ""}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	for _, step := range []func() error{
		d.subscribeSignals,
		d.startReaper,
		func() error { return d.openSockets(listen, environ) },
		d.sizePool,
		d.openNotify,
		func() error { return d.makeStarter(path, argv) },
		d.makePool,
		d.openHealth,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// subscribeSignals subscribes to every standard signal before any worker
// starts, so none is lost or fatal. Each subscription is a round trip to
// the Go runtime's signal thread (about 40 µs), so the 30 real-time
// signals, which no default can make fatal here (the runtime drops them
// until they are subscribed), follow lazySetup later: they would double
// what `drover -- true` costs. No signal.Stop at exit: drover exits right
// after, and unsubscribing costs the same again.
func (d *daemon) subscribeSignals() error {
	d.sigs = make(chan os.Signal, 64)
	inherited := launch.InheritedSignals()
	std, rt := splitRealtime(inherited.Filter(catchable()))
	signal.Notify(d.sigs, std...)
	if d.s.Pool && d.s.HUP == config.Reload && inherited.IsIgnored(unix.SIGHUP) {
		// Kept ignored on purpose (nohup must work), but then a reload by
		// signal can never happen, and nothing else would say so.
		d.log.Warn("SIGHUP was ignored when drover started (nohup?) and stays ignored: SIGHUP will not reload the workers; start drover without nohup for rolling reloads")
	}
	// Then the spare threads that keep a full pids cgroup from aborting the
	// runtime (the worker cap keeps room for them). A supervisor makes them
	// before its first worker can fork (about 0.8 ms): a fork bomb fills a
	// small cgroup within milliseconds. Plain-init mode makes them with the
	// real-time subscriptions, so a short run (drover -- true) pays for
	// neither; its child has those 10 ms to fill the cgroup first.
	if d.supervisor {
		threads.Reserve(spareThreads)
	}
	d.lazy = time.AfterFunc(lazySetup, func() {
		signal.Notify(d.sigs, rt...)
		if !d.supervisor {
			threads.Reserve(spareThreads)
		}
	})
	d.closers = append(d.closers, func() { d.lazy.Stop() })
	d.guard = setUncatchable(true)
	return nil
}

// startReaper makes drover the one waiter of every descendant (see
// reaper), and keeps inherited descriptors out of workers.
func (d *daemon) startReaper() error {
	if err := launch.SealFDs(); err != nil {
		d.log.Warn("cannot mark inherited fds close-on-exec; workers may inherit them", "err", err)
	}
	if err := reaper.Subreaper(); err != nil {
		d.log.Warn("cannot become a child subreaper; orphans of workers will not be reaped", "err", err)
	}
	d.rp = reaper.New()
	return nil
}

// openSockets binds DROVER_LISTEN before any worker exists, and starts the
// workers' environment: drover's own minus what drover consumed itself,
// plus the sockets' LISTEN_* variables.
func (d *daemon) openSockets(listen []listener.Spec, environ []string) (err error) {
	if d.set, err = listener.Open(listen, listener.Options{ReusePort: bool(d.s.Reuseport)}); err != nil {
		return err
	}
	d.closers = append(d.closers, func() { d.set.Close() })
	if len(listen) > 0 {
		// The actual addresses: ports chosen by the kernel (":0") and the
		// address behind an inherited fd are known only now.
		d.log.Info("listening", "addrs", listenAddrs(d.set), "reuseport", bool(d.s.Reuseport))
		d.pidVars = append(d.pidVars, "LISTEN_PID")
	}
	drop := map[string]bool{"NOTIFY_SOCKET": true, "WATCHDOG_USEC": true, "WATCHDOG_PID": true}
	for _, kv := range listener.WithoutListenEnv(environ) {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, d.set.Env()...)
	return nil
}

// listenAddrs is the bound sockets as name=URL, in the order workers get
// them (fd 3, 4, …), written the way DROVER_LISTEN accepts them.
func listenAddrs(set *listener.Set) string {
	names, addrs := set.Names(), set.Addrs()
	out := make([]string, len(names))
	for i, a := range addrs {
		out[i] = names[i] + "=" + sockURL(a)
	}
	return strings.Join(out, ",")
}

// sockURL is a bound socket's address as DROVER_LISTEN writes it.
func sockURL(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return "tcp://" + a.String()
	case *net.UnixAddr:
		return "unix://" + a.Name
	case nil:
		return "?"
	}
	return a.String()
}

// openNotify creates the sd_notify socket for DROVER_READY=notify and
// DROVER_WATCHDOG.
func (d *daemon) openNotify() (err error) {
	if d.s.Ready == config.Notify || d.s.Watchdog > 0 {
		sock, cleanup := notifyPath()
		d.closers = append(d.closers, cleanup)
		if d.notify, err = notify.Listen(sock); err != nil {
			return fmt.Errorf("cannot create the sd_notify socket for DROVER_READY=notify / DROVER_WATCHDOG: %w", err)
		}
		d.closers = append(d.closers, func() { d.notify.Close() })
		d.env = append(d.env, "NOTIFY_SOCKET="+sock)
	}
	if d.s.Watchdog > 0 {
		d.env = append(d.env, "WATCHDOG_USEC="+strconv.FormatInt(time.Duration(d.s.Watchdog).Microseconds(), 10))
		d.pidVars = append(d.pidVars, "WATCHDOG_PID")
	}
	return nil
}

// notifyPath picks where the sd_notify socket lives: a private directory
// under TMPDIR, or an abstract socket when the filesystem is read-only
// (readOnlyRootFilesystem pods).
func notifyPath() (path string, cleanup func()) {
	dir, err := os.MkdirTemp("", "drover-")
	if err == nil && os.Chmod(dir, 0o755) == nil { // workers under DROVER_USER must reach it
		return filepath.Join(dir, "notify"), func() { os.RemoveAll(dir) }
	}
	return "@drover/" + strconv.Itoa(os.Getpid()) + "/notify", func() {}
}

// makeStarter decides how one worker process is started.
func (d *daemon) makeStarter(path string, argv []string) error {
	d.starter = &launch.Exec{
		Path: path, Args: argv, Lock: d.rp.ForkLock(), Credential: d.s.User.Credential,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Foreground: !d.s.Pool && ownsTerminal(),
	}
	var err error
	if d.starter.OOM, err = d.oomPlan(); err != nil {
		return err
	}
	if len(d.pidVars) > 0 {
		// LISTEN_PID and WATCHDOG_PID must be the worker's own pid, which is
		// only known after fork: drover re-executes itself as a shim that
		// sets them and execs the command.
		d.starter.Shim, d.starter.PidVars = "/proc/self/exe", d.pidVars
		if st, err := os.Stat("/bin/sh"); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			d.starter.Sh = "/bin/sh" // the fast path where it is safe; none in FROM scratch images
		}
	}
	return nil
}

// oomPlan makes the workers the OOM killer's choice before drover
// (DROVER_WORKER_OOM_SCORE_ADJ). Without a readable /proc/self it warns and
// leaves every score alone.
func (d *daemon) oomPlan() (*launch.OOMPlan, error) {
	o := d.s.WorkerOOMScoreAdj
	if o.Off {
		return nil, nil
	}
	own, canLower, err := launch.ReadOOM("/proc")
	if err != nil {
		d.log.Warn("workers keep drover's oom_score_adj", "err", err)
		return nil, nil
	}
	plan, err := launch.PlanOOM(o.Score, own, canLower)
	if err != nil {
		return nil, config.Invalid("DROVER_WORKER_OOM_SCORE_ADJ", err.Error())
	}
	if plan.Lower {
		if err := launch.SetOwnOOMScore(plan); err != nil {
			d.log.Warn("workers keep drover's oom_score_adj", "err", err)
			return nil, nil
		}
	}
	if plan.Note != "" {
		d.log.Info(plan.Note)
	}
	d.log.Debug("oom_score_adj", "drover", plan.Drover, "workers", plan.Worker)
	return &plan, nil
}

// ownsTerminal says whether stdin is our controlling terminal and we are in
// its foreground: then the child gets the terminal, as with tini.
func ownsTerminal() bool {
	pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}

// makePool sets up the worker pool's policy from the settings.
func (d *daemon) makePool() (err error) {
	s := d.s
	pr := newProbe(d.set, d.log)
	d.pool, err = spawn.New(spawn.Config{
		Workers:        d.workers,
		MaxWorkers:     d.budget.maxWorkers(d.workers),
		Restart:        spawn.Policy(s.Restart),
		BackoffMax:     time.Duration(s.BackoffMax),
		CrashLimit:     int(s.CrashLimit),
		StopSignal:     syscall.Signal(s.StopSignal),
		StopTimeout:    time.Duration(s.StopTimeout),
		ReadyDelay:     time.Duration(s.ReadyDelay),
		ReadyNotify:    s.Ready == config.Notify,
		ReadyListening: s.Ready == config.Listening,
		Probe:          pr.orNil(),
		StartupTimeout: time.Duration(s.StartupTimeout),
		Watchdog:       time.Duration(s.Watchdog),
		MaxMemory:      int64(s.MaxMemory),
		Env:            d.env,
		Files:          pr.files,
		Release: func(slot int) { // a removed reuseport slot's sockets
			pr.forget(slot)
			if err := d.set.Release(slot); err != nil {
				d.log.Warn("closing a removed worker's sockets", "worker", slot, "err", err)
			}
		},
		Starter: launchStarter{d.starter, d.guard},
		Log:     d.log,
	})
	if err != nil {
		return fmt.Errorf("cannot set up the pool: %w", err)
	}
	return nil
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
