package health

import (
	"context"
	"maps"
	"time"
)

// Source is how the health server reaches drover's supervision loop. The
// loop owns the pool state; asking it (rather than reading shared memory)
// doubles as the liveness test.
type Source interface {
	// Snapshot asks drover's supervision loop for its state. It returns an
	// error when the loop does not answer before ctx ends: that is exactly
	// what /livez must report. Implementations should return once ctx is
	// done; the server stops waiting at that point regardless.
	Snapshot(ctx context.Context, q Query) (Snapshot, error)
}

// Query says what one request needs from a Snapshot beyond the pool's
// state. Probes come every few seconds and need no resource figures, so
// the cost of reading them (/proc, per worker process) is paid only by
// /status and /metrics.
type Query struct {
	Usage bool // fill Worker.RSS, CPUSeconds and CPUSecondsTotal
}

// Names are the label values exported even at zero, so that every series
// exists from the first scrape: a series that only appears when non-zero
// breaks alerts and rate(). They are the pool's vocabulary, passed in by
// main, because this package does not know the pool.
type Names struct {
	States  []string // Worker.State values, for drover_workers{state}
	Reasons []string // Snapshot.Restarts keys, for drover_worker_restarts_total{reason}
	Signals []string // Snapshot.Signals keys ("SIGHUP"), for drover_signals_forwarded_total{signal}
}

// Snapshot is the pool's state at one instant. Its JSON form is what
// GET /status returns and what `drover status` and users parse, so the tags
// are part of drover's public interface.
type Snapshot struct {
	Version string `json:"version"`
	Desired int    `json:"desired"`
	// Ready is the number of worker slots with a ready worker. The server
	// computes it from Workers for /status; a Source need not set it.
	Ready    int  `json:"ready"`
	MinReady int  `json:"min_ready"` // already resolved with MinReady.Of(Desired)
	Draining bool `json:"draining"`
	CPU      CPU  `json:"cpu"`
	// Workers may hold two entries for one slot (ID) during a rolling
	// reload: the old worker and its replacement.
	Workers  []Worker          `json:"workers"`
	Restarts map[string]uint64 `json:"restarts"`          // cumulative, by reason (Names.Reasons)
	Orphans  uint64            `json:"orphans_reaped"`    // cumulative orphans reaped
	Signals  map[string]uint64 `json:"signals_forwarded"` // cumulative, by name ("SIGUSR1")
	Started  time.Time         `json:"started"`           // when drover started
	// Time is when the snapshot was taken; the server sets it when the
	// Source leaves it zero. Uptimes in `drover status` are relative to it.
	Time time.Time `json:"time"`
}

// CPU explains the CPU budget and, through it, the worker count, so that
// an operator can see why a pod runs the number of workers it does.
type CPU struct {
	Cores  float64 `json:"cores"`
	Exact  string  `json:"exact"`  // the budget as an exact fraction, "3/2"
	Source string  `json:"source"` // "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu"
	Reason string  `json:"reason"` // why this many workers
	// Changes counts the budget changes seen while running (a resized pod);
	// LastChange is the latest, zero until there is one.
	Changes    uint64    `json:"changes"`
	LastChange CPUChange `json:"last_change,omitzero"`
}

// CPUChange is one change of the CPU budget while drover runs.
type CPUChange struct {
	Time   time.Time `json:"time"`
	From   float64   `json:"from_cores"`
	To     float64   `json:"to_cores"`
	Source string    `json:"source"` // where the new budget was read
}

// Worker is one worker process, or a slot waiting to restart one.
type Worker struct {
	ID         int    `json:"id"` // slot, 0…N−1, stable across restarts
	Pid        int    `json:"pid"`
	Generation int    `json:"generation"`
	State      string `json:"state"` // one of Names.States
	// Ready counts towards /readyz. main clears it for a worker it is
	// stopping, whatever the state says.
	Ready      bool      `json:"ready"`
	Restarts   int       `json:"restarts"`
	Started    time.Time `json:"started,omitzero"`
	LastExit   string    `json:"last_exit"`   // "exit 1", "signal SIGKILL", "" if none yet
	Status     string    `json:"status"`      // last STATUS= from sd_notify
	RSS        int64     `json:"rss_bytes"`   // whole process tree; 0 if unknown
	CPUSeconds float64   `json:"cpu_seconds"` // user+sys of this worker's process tree
	// CPUSecondsTotal is the slot's CPU time over all the workers it has
	// run, the value of drover_worker_cpu_seconds_total: a worker's own
	// CPUSeconds restarts from zero with each replacement, and a
	// Prometheus counter must never go down. 0 means the Source does not
	// know it; the slot's CPUSeconds are exported instead.
	CPUSecondsTotal float64 `json:"cpu_seconds_total"`
}

// ReadyCount is the number of slots with at least one ready worker. Slots,
// not processes: during a reload a slot briefly has an old and a new
// worker, both ready, and counting both would overstate capacity.
func (s Snapshot) ReadyCount() int {
	seen := make(map[int]bool, len(s.Workers))
	for _, w := range s.Workers {
		if w.Ready {
			seen[w.ID] = true
		}
	}
	return len(seen)
}

// IsReady is the verdict of /readyz and drover_ready.
func (s Snapshot) IsReady() bool {
	return !s.Draining && s.ReadyCount() >= s.MinReady
}

// normalized returns the form served on /status: derived fields filled in,
// nil collections made empty (JSON consumers should not have to handle
// null), and every known reason present. The Source's maps are not touched.
func (s Snapshot) normalized(now time.Time, names Names) Snapshot {
	s.Ready = s.ReadyCount()
	if s.Time.IsZero() {
		s.Time = now
	}
	if s.Workers == nil {
		s.Workers = []Worker{}
	}
	s.Restarts = withKeys(s.Restarts, names.Reasons)
	s.Signals = withKeys(s.Signals, nil)
	return s
}

func withKeys(m map[string]uint64, keys []string) map[string]uint64 {
	out := make(map[string]uint64, len(m)+len(keys))
	for _, k := range keys {
		out[k] = 0
	}
	maps.Copy(out, m)
	return out
}
