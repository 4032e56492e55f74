package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/internal/usage"
	"github.com/drover-init/drover/spawn"
)

// openHealth binds the health server (DROVER_HEALTH_ADDR), which shows the
// pool as poolSource adapts it.
func (d *daemon) openHealth() (err error) {
	if d.usage, err = usage.New("/proc"); err != nil {
		d.log.Warn("worker memory and CPU will not be shown", "err", err)
	}
	addr := string(d.s.HealthAddr)
	if addr == "" {
		return nil
	}
	if err := checkHealthAddr(addr, d.set.Addrs()); err != nil {
		return err
	}
	if m := d.s.MinReady; !m.Percent && m.N > d.workers {
		// Capped, so that scaling down never makes readiness impossible;
		// but a count above the pool is likely a mistake worth a line.
		d.log.Warn(fmt.Sprintf("DROVER_MIN_READY=%d is more than the %d workers: /readyz passes when all of them are ready", m.N, d.workers))
	}
	src := poolSource{pool: d.pool, usage: d.usage, cpu: d.budget.view, minReady: health.MinReady(d.s.MinReady), started: time.Now()}
	names := healthNames()
	d.srv, err = health.New(health.Options{
		Addr: addr, Source: src, Logger: d.log, Names: names,
		Gatherer: health.NewRegistry(src, buildVersion(), names, droppedLines(d.logDropped)),
	})
	if err != nil {
		return err
	}
	d.log.Info("health server listening", "addr", d.srv.Addr().String())
	return nil
}

// checkHealthAddr refuses a health address that is one of drover's own
// listening sockets. Binding it would fail with "address in use", which
// sends the user looking for another process when the clash is in their
// own configuration.
func checkHealthAddr(health string, listen []net.Addr) error {
	host, port, err := net.SplitHostPort(health)
	if err != nil {
		return nil // the bind reports it
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return nil
	}
	hip := net.ParseIP(host)
	if host != "" && hip == nil {
		return nil // a name: only the bind can tell
	}
	for _, a := range listen {
		ta, ok := a.(*net.TCPAddr)
		if !ok || ta.Port != p {
			continue
		}
		if host == "" || hip.IsUnspecified() || ta.IP.IsUnspecified() || hip.Equal(ta.IP) {
			return fmt.Errorf("DROVER_HEALTH_ADDR=%q is the same address as DROVER_LISTEN (%s); choose another port for one of them, or set DROVER_HEALTH_ADDR=off", health, ta)
		}
	}
	return nil
}

// poolSource adapts the pool's state to what the health server shows.
type poolSource struct {
	pool     *spawn.Pool
	usage    *usage.Reader // nil when /proc cannot be read: no figures
	cpu      *cpuView
	minReady health.MinReady
	started  time.Time
}

func (p poolSource) Snapshot(ctx context.Context, q health.Query) (health.Snapshot, error) {
	if q.Usage {
		measure(ctx, p.pool, p.usage)
	}
	st, err := p.pool.Snapshot(ctx)
	if err != nil {
		return health.Snapshot{}, err
	}
	out := health.Snapshot{
		Version:  buildVersion(),
		Desired:  st.Desired,
		MinReady: p.minReady.Of(st.Desired),
		Draining: st.Draining,
		CPU:      p.cpu.get(),
		Restarts: st.Restarts,
		Orphans:  st.Orphans,
		Signals:  st.Signals,
		Started:  p.started,
		Time:     time.Now(),
	}
	for _, w := range st.Workers {
		out.Workers = append(out.Workers, health.Worker{
			ID: w.Slot, Pid: w.Pid, Generation: w.Generation, State: w.State, Ready: w.Ready,
			Restarts: w.Restarts, Started: w.Started, LastExit: w.LastExit, Status: w.Status,
			RSS: w.Usage.RSS, CPUSeconds: w.Usage.CPUSeconds,
			CPUSecondsTotal: st.SlotCPUSeconds[w.Slot],
		})
	}
	return out, nil
}

// measure reads the workers' memory and CPU and hands them to the pool,
// which enforces DROVER_MAX_MEMORY with them. The pool answers asks in
// order, so a Snapshot asked next already shows these figures.
func measure(ctx context.Context, pool *spawn.Pool, r *usage.Reader) {
	if r == nil {
		return
	}
	pids, err := pool.Pids(ctx)
	if err != nil {
		return
	}
	u := r.Read(pids)
	out := make(map[int]spawn.Usage, len(u))
	for pid, x := range u {
		out[pid] = spawn.Usage(x)
	}
	pool.SetUsage(out)
}

// sampleUsage measures the workers every few seconds for DROVER_MAX_MEMORY
// (PM2 checks every 30 s; a leak can take a pod down in less). Without a
// memory limit nothing is read until /status or /metrics asks.
func sampleUsage(ctx context.Context, pool *spawn.Pool, r *usage.Reader, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		measure(ctx, pool, r)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthNames is the pool's vocabulary, exported by the health server even
// at zero.
func healthNames() health.Names {
	forwarded := []syscall.Signal{unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}
	names := health.Names{States: spawn.States(), Reasons: spawn.Reasons()}
	for _, sig := range forwarded {
		names.Signals = append(names.Signals, unix.SignalName(sig))
	}
	return names
}
