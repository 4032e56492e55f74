package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	rungroup "github.com/oklog/run"
	"golang.org/x/sys/unix"

	"github.com/drover-init/drover/internal/health"
	"github.com/drover-init/drover/internal/launch"
	"github.com/drover-init/drover/internal/listener"
	"github.com/drover-init/drover/internal/notify"
	"github.com/drover-init/drover/internal/reaper"
	"github.com/drover-init/drover/internal/spawn"
	"github.com/drover-init/drover/internal/usage"
)

// handled is every signal drover takes. SIGCHLD is the reaper's own, and
// SIGURG (the Go runtime's preemption signal) is never forwarded.
func handled() []os.Signal {
	return []os.Signal{
		unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGTTIN, unix.SIGTTOU,
		unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGPIPE,
	}
}

// errPoolDone ends the run group once the pool has finished.
var errPoolDone = errors.New("pool finished")

// supervise runs the pool until it is finished and returns the exit code.
func supervise(s *Settings, path string, argv, environ []string, stderr io.Writer) int {
	log := newLogger(s.Raw.LogFormat, s.Raw.LogLevel, stderr)

	// Subscribe before anything starts, so no signal is lost during start-up.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, handled()...)
	defer signal.Stop(sigs)

	if err := launch.SealFDs(); err != nil {
		log.Warn("cannot mark inherited fds close-on-exec; workers may inherit them", "err", err)
	}
	if err := reaper.Subreaper(); err != nil {
		log.Warn("cannot become a child subreaper; orphans of workers will not be reaped", "err", err)
	}
	rp := reaper.New()

	set, err := listener.Open(s.Listen, listener.Options{ReusePort: s.Raw.Reuseport})
	if err != nil {
		fmt.Fprintf(stderr, "drover: %v\n", err)
		return 2
	}
	defer set.Close()
	if len(s.Listen) > 0 {
		// The actual addresses: ports chosen by the kernel (":0") and the
		// address behind an inherited fd are known only now.
		log.Info("listening", "addrs", listenAddrs(set), "reuseport", s.Raw.Reuseport)
	}

	workers, cpu := 1, health.CPU{}
	if s.Pool || s.HealthAddr != "" {
		workers, cpu = sizePool(s, log)
	}

	env := append(workerEnviron(environ), set.Env()...)
	var pidVars []string
	if len(s.Listen) > 0 {
		pidVars = append(pidVars, "LISTEN_PID")
	}
	var notifySock *notify.Socket
	if s.Notify || s.Raw.Watchdog > 0 {
		path, cleanup := notifyPath()
		defer cleanup()
		if notifySock, err = notify.Listen(path); err != nil {
			fmt.Fprintf(stderr, "drover: cannot create the sd_notify socket for DROVER_READY=notify / DROVER_WATCHDOG: %v\n", err)
			return 2
		}
		defer notifySock.Close()
		env = append(env, "NOTIFY_SOCKET="+path)
	}
	if s.Raw.Watchdog > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(s.Raw.Watchdog.Microseconds(), 10))
		pidVars = append(pidVars, "WATCHDOG_PID")
	}

	starter := &launch.Exec{
		Path: path, Args: argv, Lock: rp.ForkLock(), Credential: s.Credential,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Foreground: !s.Pool && ownsTerminal(),
	}
	if len(pidVars) > 0 {
		// LISTEN_PID and WATCHDOG_PID must be the worker's own pid, which is
		// only known after fork: drover re-executes itself as a shim that
		// sets them and execs the command.
		starter.Shim, starter.PidVars = "/proc/self/exe", pidVars
	}
	pool, err := spawn.New(spawn.Config{
		Workers:        workers,
		Restart:        s.Restart,
		BackoffMax:     s.Raw.BackoffMax,
		CrashLimit:     s.Raw.CrashLimit,
		StopSignal:     s.StopSignal,
		StopTimeout:    s.Raw.StopTimeout,
		ReadyDelay:     s.Raw.ReadyDelay,
		ReadyNotify:    s.Notify,
		StartupTimeout: s.Raw.StartupTimeout,
		Watchdog:       s.Raw.Watchdog,
		MaxMemory:      s.MaxMemory,
		Env:            env,
		Files:          set.Files,
		Release:        releaseSlot(set, log),
		Starter:        launchStarter{starter},
		Log:            log,
	})
	if err != nil {
		log.Error("cannot set up the pool", "err", err)
		return 2
	}

	procUsage, err := usage.New("/proc")
	if err != nil {
		log.Warn("worker memory and CPU will not be shown", "err", err)
	}
	src := poolSource{pool: pool, usage: procUsage, cpu: cpu, minReady: s.MinReady, started: time.Now()}
	var srv *health.Server
	if s.HealthAddr != "" {
		names := healthNames()
		srv, err = health.New(health.Options{
			Addr: s.HealthAddr, Source: src, Logger: log, Names: names,
			Gatherer: health.NewRegistry(src, buildVersion(), names),
		})
		if err != nil {
			fmt.Fprintf(stderr, "drover: %v\n", err)
			return 2
		}
		log.Info("health server listening", "addr", srv.Addr().String())
	}

	var g rungroup.Group
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The reaper runs until the very end: orphans are cleaned up after the
	// pool is done, and their exits must still be collected.
	reaperDone := make(chan struct{})
	go func() {
		defer close(reaperDone)
		err := rp.Run(ctx, func(e reaper.Exit) {
			pool.Exited(spawn.Exit{Pid: e.Pid, Status: syscall.WaitStatus(e.Status)})
		})
		if err != nil {
			log.Error("reaper stopped", "err", err)
		}
	}()

	var result spawn.Result
	g.Add(func() error {
		result = pool.Run()
		log.Debug("pool finished", "code", result.Code, "reason", result.Reason)
		if n := rp.Cleanup(s.Raw.StopTimeout); n > 0 {
			log.Info("stopped processes the workers left behind", "count", n)
		}
		return errPoolDone
	}, func(error) {
		pool.Shutdown(0)
	})

	sigCtx, sigCancel := context.WithCancel(ctx)
	g.Add(func() error {
		for {
			select {
			case <-sigCtx.Done():
				return nil
			case sig := <-sigs:
				dispatch(s, pool, log, sig.(syscall.Signal))
			}
		}
	}, func(error) { sigCancel() })

	if srv != nil {
		g.Add(srv.Serve, func(error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	if notifySock != nil {
		nctx, ncancel := context.WithCancel(ctx)
		g.Add(func() error {
			return notifySock.Run(nctx, func(m notify.Message) { pool.Notify(m.Pid, m.Fields) },
				func(err error) { log.Warn("sd_notify", "err", err) })
		}, func(error) { ncancel() })
	}
	if s.MaxMemory > 0 {
		uctx, ucancel := context.WithCancel(ctx)
		g.Add(func() error { sampleUsage(uctx, pool, procUsage, 2*time.Second); return nil }, func(error) { ucancel() })
	}

	if err := g.Run(); err != nil && !errors.Is(err, errPoolDone) {
		log.Error("stopped", "err", err)
	}
	cancel()
	<-reaperDone
	return result.Code
}

// dispatch acts on a signal drover received, as the design's table says.
func dispatch(s *Settings, pool *spawn.Pool, log *slog.Logger, sig syscall.Signal) {
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		log.Info("shutting down", "signal", spawn.SignalName(sig))
		pool.Shutdown(s.Raw.DrainDelay)
	case unix.SIGHUP:
		if s.HUPReload {
			pool.Reload()
		} else {
			pool.Signal(sig)
		}
	case unix.SIGTTIN, unix.SIGTTOU:
		if !s.Pool {
			return // a plain init has no pool to resize
		}
		if sig == unix.SIGTTIN {
			pool.Scale(+1)
		} else {
			pool.Scale(-1)
		}
	case unix.SIGPIPE:
		// Taken only so a closed stderr cannot kill PID 1.
	default:
		pool.Signal(sig)
	}
}

// ownsTerminal says whether stdin is our controlling terminal and we are in
// its foreground: then the child gets the terminal, as with tini.
func ownsTerminal() bool {
	pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}

// workerEnviron is drover's environment minus what drover itself consumed
// (its own socket activation and notify variables).
func workerEnviron(environ []string) []string {
	drop := map[string]bool{
		"NOTIFY_SOCKET": true, "WATCHDOG_USEC": true, "WATCHDOG_PID": true,
	}
	environ = listener.WithoutListenEnv(environ)
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}

// listenAddrs is the bound sockets as name=URL, in the order workers get
// them (fd 3, 4, …), written the way DROVER_LISTEN accepts them.
func listenAddrs(set *listener.Set) string {
	names, addrs := set.Names(), set.Addrs()
	out := make([]string, len(names))
	for i, a := range addrs {
		u := "?"
		switch a := a.(type) {
		case *net.TCPAddr:
			u = "tcp://" + a.String()
		case *net.UnixAddr:
			u = "unix://" + a.Name
		}
		out[i] = names[i] + "=" + u
	}
	return strings.Join(out, ",")
}

// launchStarter adapts internal/launch to the pool's Starter.
type launchStarter struct{ x *launch.Exec }

func (l launchStarter) Start(env []string, files []*os.File) (spawn.Process, error) {
	p, err := l.x.Start(env, files)
	return spawn.Process{Pid: p.Pid, Execd: p.Execd}, err
}
