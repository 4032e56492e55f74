package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/internal/config"
	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/spawn"
)

// budget owns everything about the CPU budget: the reader, the sizing rules
// and, with DROVER_WORKERS=auto, the follower that keeps the pool sized to
// a budget that changes while drover runs (an in-place pod resize, a quota
// rewritten, a cgroup migration).
type budget struct {
	s      *config.Settings
	log    *slog.Logger
	reader cpus.Reader
	limit  cpus.Limit
	sizing cpus.Sizing
	view   *cpuView
	follow *cpus.Follower

	// Everything the follower does happens on one goroutine (follow),
	// fed by these: a SIGHUP re-read and a manual TTIN/TTOU.
	hup chan struct{}
	pin chan int
}

// sizePool decides the pool's first size from the CPU budget, after
// refusing a configured count the container cannot hold.
func (d *daemon) sizePool() error {
	d.budget = newBudget(d.s, d.log)
	d.workers = 1
	if d.s.Pool {
		if err := d.budget.checkLimit(); err != nil {
			return err
		}
	}
	if d.supervisor {
		d.workers = d.budget.size()
		// Before any worker starts: earlier OOM kills are not theirs.
		d.oom = cpus.NewOOMWatch(d.budget.reader)
	}
	return nil
}

func newBudget(s *config.Settings, log *slog.Logger) *budget {
	seen := map[string]bool{}
	b := &budget{s: s, log: log, hup: make(chan struct{}, 1), pin: make(chan int, 8)}
	b.reader = cpus.Reader{Root: "/", CPUFile: string(s.CPUFile), Warn: func(msg string) {
		// Budget and MemoryLimit may report the same layout problem, and
		// a recheck every 10 s must not repeat it.
		if !seen[msg] {
			seen[msg] = true
			log.Warn("cpu budget: " + msg)
		}
	}}
	return b
}

// checkLimit refuses, before anything starts, a configured worker count the
// container cannot hold (its pids cgroup, RLIMIT_NPROC, drover's own cap).
func (b *budget) checkLimit() error {
	b.limit = b.reader.WorkerLimit(config.MaxWorkers)
	return b.s.CheckWorkerLimit(b.limit.Workers, b.limit.Reason)
}

// maxWorkers bounds SIGTTIN and the follower: the container's limit and,
// with auto, DROVER_WORKERS_MAX.
func (b *budget) maxWorkers(start int) int {
	n := b.limit.Workers
	if b.s.WorkersMax > 0 && b.s.Workers == config.Auto {
		n = min(n, int(b.s.WorkersMax))
	}
	return max(n, start)
}

// size decides how many workers to start and why; the why is logged,
// shown in /status and exported as drover_cpu_budget_cores.
func (b *budget) size() int {
	rd, err := b.reader.Read(int64(b.s.CPUMillicores))
	if err != nil {
		b.log.Warn("cannot read the CPU budget; assuming 1 CPU", "err", err)
		rd = cpus.Reading{Budget: cpus.Budget{Cores: big.NewRat(1, 1), Source: "unknown"}}
	}
	cpu := cpuOf(rd.Budget)
	b.view = &cpuView{cpu: cpu}
	if b.s.Workers != config.Auto {
		b.view.cpu.Reason = fmt.Sprintf("DROVER_WORKERS=%d", b.s.Workers)
		return int(b.s.Workers)
	}
	b.sizing = cpus.Sizing{
		PerCPU: b.s.WorkersPerCPU.Rat, Min: int(b.s.WorkersMin), Max: int(b.s.WorkersMax),
		Rounding: cpus.Rounding(b.s.CPURounding), WorkerMemory: int64(b.s.WorkerMemory), Limit: &b.limit,
	}
	d := rd.Size(b.sizing)
	b.view.cpu.Reason = d.Reason
	b.log.Info(d.String())
	b.follow = cpus.NewFollower(d.Workers, rd.Budget, time.Duration(b.s.CPURecheck))
	return d.Workers
}

func cpuOf(bd cpus.Budget) health.CPU {
	cores, _ := bd.Cores.Float64()
	return health.CPU{Cores: cores, Exact: bd.Cores.RatString(), Source: bd.Source}
}

// following says whether the pool follows the budget while running.
func (b *budget) following() bool { return b.follow != nil && b.s.CPURecheck > 0 }

// reread asks for an explicit re-read (SIGHUP): the count applies at once,
// and a manual TTIN/TTOU pin is released.
func (b *budget) reread() {
	select {
	case b.hup <- struct{}{}:
	default:
	}
}

// pinned records a manual TTIN/TTOU: it wins over the budget until SIGHUP.
func (b *budget) pinned(n int) {
	select {
	case b.pin <- n:
	default:
	}
}

// run re-reads the budget every DROVER_CPU_RECHECK and on reread, until
// ctx ends.
func (b *budget) run(ctx context.Context, pool *spawn.Pool) error {
	t := time.NewTicker(time.Duration(b.s.CPURecheck))
	defer t.Stop()
	for {
		explicit := false
		select {
		case <-ctx.Done():
			return nil
		case n := <-b.pin:
			b.follow.Pin(n)
			continue
		case <-b.hup:
			explicit = true
		case <-t.C:
		}
		rd, err := b.reader.Read(int64(b.s.CPUMillicores))
		if err != nil {
			b.log.Warn("cannot read the CPU budget; keeping the pool as it is", "err", err)
			continue
		}
		d := rd.Size(b.sizing)
		var n int
		var changed bool
		var why string
		if explicit {
			n, changed, why = b.follow.Apply(rd.Budget, d)
		} else {
			n, changed, why = b.follow.Observe(time.Now(), rd.Budget, d)
		}
		if !changed {
			continue
		}
		next := cpuOf(rd.Budget)
		next.Reason = d.Reason
		b.view.changed(next, time.Now())
		pool.SetDesired(n, why) // logs the one line that says why
	}
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
