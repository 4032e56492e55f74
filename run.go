package main

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	rungroup "github.com/oklog/run"
	"golang.org/x/sys/unix"

	"github.com/drover-init/drover/internal/config"
	"github.com/drover-init/drover/internal/logging"
	"github.com/drover-init/drover/internal/notify"
	"github.com/drover-init/drover/listener"
	"github.com/drover-init/drover/reaper"
	"github.com/drover-init/drover/spawn"
)

// errPoolDone ends the run group once the pool has finished.
var errPoolDone = errors.New("pool finished")

// supervise builds the daemon, runs it until the pool is finished and
// returns drover's exit code.
func supervise(s *config.Settings, listen []listener.Spec, path string, argv, environ []string, stderr io.Writer) int {
	out := newLogger(s.LogFormat, s.LogLevel, stderr)
	defer out.Close(logging.FlushTimeout) // last: after d.close's lines
	d, err := build(s, listen, path, argv, environ, out.Logger(), out.Dropped)
	if err != nil {
		out.Close(logging.FlushTimeout) // the warnings before the error line
		startError(s.LogFormat, stderr, err)
		return 2
	}
	defer d.close()
	return d.run()
}

// run is an oklog/run group of execute/interrupt pairs: the pool, signal
// dispatch, the health server, the sd_notify receiver and the usage
// sampler. The reaper is outside the group: it runs until the very end, as
// orphans are cleaned up after the pool is done and their exits must still
// be collected.
func (d *daemon) run() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reaperDone := make(chan struct{})
	go func() {
		defer close(reaperDone)
		err := d.rp.RunBatches(ctx, func(es []reaper.Exit) { d.pool.ExitedAll(d.poolExits(es)) })
		if err != nil {
			d.log.Error("reaper stopped", "err", err)
		}
	}()

	var g rungroup.Group
	var result spawn.Result
	g.Add(func() error {
		result = d.pool.Run()
		d.log.Debug("pool finished", "code", result.Code, "reason", result.Reason)
		if n := d.rp.Cleanup(time.Duration(d.s.StopTimeout)); n > 0 {
			d.log.Info("stopped processes the workers left behind", "count", n)
		}
		return errPoolDone
	}, func(error) { d.pool.Shutdown(0) })

	g.Add(d.dispatchSignals(ctx))
	if d.srv != nil {
		g.Add(d.srv.Serve, func(error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = d.srv.Shutdown(ctx)
		})
	}
	if d.notify != nil {
		g.Add(cancelable(ctx, func(ctx context.Context) error {
			return d.notify.Run(ctx, func(m notify.Message) { d.pool.Notify(m.Pid, m.Fields) },
				func(err error) { d.log.Warn("sd_notify", "err", err) })
		}))
	}
	if d.budget.following() {
		g.Add(cancelable(ctx, func(ctx context.Context) error { return d.budget.run(ctx, d.pool) }))
	}
	if d.s.MaxMemory > 0 {
		g.Add(cancelable(ctx, func(ctx context.Context) error {
			sampleUsage(ctx, d.pool, d.usage, 2*time.Second)
			return nil
		}))
	}

	// Short runs (drover -- true) never pay for it.
	trim := time.AfterFunc(time.Second, trimStartupPages)
	defer trim.Stop()
	if err := g.Run(); err != nil && !errors.Is(err, errPoolDone) {
		d.log.Error("stopped", "err", err)
	}
	cancel()
	<-reaperDone
	return result.Code
}

// cancelable turns a function that runs until its context ends into an
// execute/interrupt pair.
func cancelable(parent context.Context, f func(context.Context) error) (func() error, func(error)) {
	ctx, cancel := context.WithCancel(parent)
	return func() error { return f(ctx) }, func(error) { cancel() }
}

// dispatchSignals acts on every signal drover receives, as decide says.
func (d *daemon) dispatchSignals(parent context.Context) (func() error, func(error)) {
	return cancelable(parent, func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case sig := <-d.sigs:
				d.act(sig.(syscall.Signal))
			}
		}
	})
}

func (d *daemon) act(sig syscall.Signal) {
	act := decide(sig, d.s.Pool, d.s.HUP == config.Reload)
	switch act {
	case actDrain:
		d.log.Info("shutting down", "signal", unix.SignalName(sig))
		d.pool.Shutdown(time.Duration(d.s.DrainDelay))
	case actStop:
		d.log.Info("shutting down", "signal", unix.SignalName(sig))
		d.pool.ShutdownWith(sig)
	case actReload:
		d.pool.Reload()
		if d.budget.following() {
			d.budget.reread()
		}
	case actScaleUp, actScaleDown:
		d.pool.Scale(map[action]int{actScaleUp: +1, actScaleDown: -1}[act])
		if d.budget.following() {
			// The operator's count wins over the budget until SIGHUP.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if st, err := d.pool.Snapshot(ctx); err == nil {
				d.budget.pinned(st.Desired)
			}
			cancel()
		}
	case actJobStop:
		d.pool.SignalGroup(sig)
		// The pool sends it from its own goroutine: stopping first would
		// hold that send back until CONT, leaving the child running while
		// drover is stopped. Pids is answered only after the send.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = d.pool.Pids(ctx)
		cancel()
		stopSelf()
	case actContinue:
		d.pool.SignalGroup(sig)
	default:
		d.pool.Signal(sig)
	}
}

// cpuSeconds is the user and system time in a wait4 resource usage.
func cpuSeconds(ru unix.Rusage) float64 {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// poolExits turns what the reaper collected into what the pool reads. A
// SIGKILL may be the OOM killer's: one look at the cgroup's counter per
// batch, on the reaper's goroutine.
func (d *daemon) poolExits(es []reaper.Exit) []spawn.Exit {
	out := make([]spawn.Exit, len(es))
	oom, looked := "", false
	for i, e := range es {
		ws := syscall.WaitStatus(e.Status)
		out[i] = spawn.Exit{Pid: e.Pid, Status: ws, CPUSeconds: cpuSeconds(e.Rusage)}
		if d.oom != nil && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			if !looked {
				if n, limit := d.oom.Killed(); n > 0 {
					oom = limit
				}
				looked = true
			}
			out[i].OOM = oom
		}
	}
	return out
}
