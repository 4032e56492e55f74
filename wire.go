package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/internal/health"
	"github.com/drover-init/drover/internal/listener"
	"github.com/drover-init/drover/internal/spawn"
)

// sizePool decides how many workers to start and why; the why is logged,
// shown in /status and exported as drover_cpu_budget_cores.
func sizePool(s *Settings, log *slog.Logger) (int, health.CPU) {
	seen := map[string]bool{} // Warn is called synchronously by Budget and MemoryLimit
	r := cpus.Reader{Root: "/", Warn: func(msg string) {
		if !seen[msg] { // Budget and MemoryLimit may report the same layout problem
			seen[msg] = true
			log.Warn("cpu budget: " + msg)
		}
	}}
	b, err := r.Budget(s.CPUMillicores)
	if err != nil {
		log.Warn("cannot read the CPU budget; assuming 1 CPU", "err", err)
		b = cpus.Budget{Cores: bigOne(), Source: "unknown"}
	}
	cores, _ := b.Cores.Float64()
	cpu := health.CPU{Cores: cores, Exact: b.Cores.RatString(), Source: b.Source}
	if s.Workers > 0 {
		cpu.Reason = fmt.Sprintf("DROVER_WORKERS=%d", s.Workers)
		return s.Workers, cpu
	}
	mem, _, memOK := r.MemoryLimit()
	d := cpus.Size(b, cpus.Sizing{
		PerCPU: s.PerCPU, Min: s.WorkersMin, Max: s.WorkersMax,
		Rounding: s.Rounding, WorkerMemory: int64(s.WorkerMemory),
	}, mem, memOK)
	cpu.Reason = d.Reason
	log.Info(d.String())
	return d.Workers, cpu
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

// poolSource adapts the pool's state to what the health server shows.
type poolSource struct {
	pool     *spawn.Pool
	cpu      health.CPU
	minReady health.MinReady
	started  time.Time
}

func (p poolSource) Snapshot(ctx context.Context) (health.Snapshot, error) {
	st, err := p.pool.Snapshot(ctx)
	if err != nil {
		return health.Snapshot{}, err
	}
	out := health.Snapshot{
		Version:  buildVersion(),
		Desired:  st.Desired,
		MinReady: p.minReady.Of(st.Desired),
		Draining: st.Draining,
		CPU:      p.cpu,
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
		})
	}
	return out, nil
}

// sampleUsage reads the workers' memory and CPU every few seconds, for the
// metrics and for DROVER_MAX_MEMORY (PM2 checks every 30 s; a leak can
// take a pod down in less).
func sampleUsage(ctx context.Context, pool *spawn.Pool, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pids, err := pool.Pids(ctx)
		if err == nil {
			if u, err := health.ReadUsage("/proc", pids); err == nil {
				out := make(map[int]spawn.Usage, len(u))
				for pid, x := range u {
					out[pid] = spawn.Usage{RSS: x.RSS, CPUSeconds: x.CPUSeconds}
				}
				pool.SetUsage(out)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// releaseSlot closes a removed reuseport slot's sockets.
func releaseSlot(set *listener.Set, log *slog.Logger) func(int) {
	return func(slot int) {
		if err := set.Release(slot); err != nil {
			log.Warn("closing a removed worker's sockets", "worker", slot, "err", err)
		}
	}
}

func bigOne() *big.Rat { return big.NewRat(1, 1) }
