package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/listener"
	"github.com/drover-init/drover/spawn"
	"github.com/drover-init/drover/internal/usage"
	"golang.org/x/sys/unix"
)

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

// poolSource adapts the pool's state to what the health server shows.
type poolSource struct {
	pool     *spawn.Pool
	usage    *usage.Reader // nil when /proc cannot be read: no figures
	cpu      *cpuView
	minReady health.MinReady
	started  time.Time
}

// cpuView is the CPU budget as last read: set by the budget follower,
// read by every /status and /metrics request.
type cpuView struct {
	mu  sync.Mutex
	cpu health.CPU
}

func (v *cpuView) get() health.CPU {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cpu
}

// changed records a new budget and why the worker count followed it.
func (v *cpuView) changed(next health.CPU, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	from := v.cpu.Cores
	next.Changes = v.cpu.Changes + 1
	next.LastChange = health.CPUChange{Time: at, From: from, To: next.Cores, Source: next.Source}
	v.cpu = next
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

// releaseSlot closes a removed reuseport slot's sockets.
func releaseSlot(set *listener.Set, log *slog.Logger) func(int) {
	return func(slot int) {
		if err := set.Release(slot); err != nil {
			log.Warn("closing a removed worker's sockets", "worker", slot, "err", err)
		}
	}
}
