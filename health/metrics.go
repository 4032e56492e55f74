package health

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Collector exports drover's state to Prometheus. It builds every sample
// from a fresh Snapshot at scrape time, so there is no second copy of the
// state to keep in sync with the pool.
//
// Per-worker series are labelled by slot id ("worker"), never by pid, so
// cardinality stays bounded by the pool size across any number of restarts.
// While a rolling reload briefly puts an old and a new worker in one slot,
// their memory is summed: that is what the slot really costs against the
// container's limits. The slot's CPU counter is Worker.CPUSecondsTotal,
// which the pool carries across replacements.
type Collector struct {
	src     Source
	version string
	timeout time.Duration
	names   Names

	// lastCPU is the CPU counter last exported per slot. A counter that
	// goes down reads as a reset and makes rate() count the whole value
	// again; whatever a Source reports, the collector never exports less.
	mu      sync.Mutex
	lastCPU map[int]float64

	buildInfo, workers, desired, minReady, restarts, orphans, cpuBudget,
	cpuChanges, ready, draining, signals, rss, cpuSeconds *prometheus.Desc
}

// NewCollector returns a collector over src. version labels drover_build_info,
// which stays available even when the supervision loop does not answer.
// timeout bounds the wait for a Snapshot per scrape; 0 means DefaultTimeout.
// names lists the label values exported even at zero.
func NewCollector(src Source, version string, names Names, timeout time.Duration) *Collector {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{
		src:        src,
		version:    version,
		timeout:    timeout,
		names:      names,
		lastCPU:    make(map[int]float64),
		buildInfo:  d("drover_build_info", "Always 1; the version label identifies the drover build.", "version"),
		workers:    d("drover_workers", "Worker processes by state; slots waiting to restart count as backoff.", "state"),
		desired:    d("drover_workers_desired", "Desired number of workers."),
		minReady:   d("drover_workers_min_ready", "Ready workers needed for /readyz to pass (DROVER_MIN_READY resolved)."),
		restarts:   d("drover_worker_restarts_total", "Worker restarts by reason.", "reason"),
		orphans:    d("drover_orphans_reaped_total", "Exited processes reaped that were not workers."),
		cpuBudget:  d("drover_cpu_budget_cores", "CPU budget the worker count was sized from, in cores."),
		cpuChanges: d("drover_cpu_budget_changes_total", "Changes of the CPU budget seen while running."),
		ready:      d("drover_ready", "1 when /readyz passes: not draining and enough workers ready."),
		draining:   d("drover_draining", "1 while drover shuts down and fails /readyz."),
		signals:    d("drover_signals_forwarded_total", "Signals forwarded to workers, by signal name.", "signal"),
		rss:        d("drover_worker_resident_memory_bytes", "Resident memory of the worker slot's process trees.", "worker"),
		cpuSeconds: d("drover_worker_cpu_seconds_total", "User and system CPU time of every worker the slot has run, with their process trees.", "worker"),
	}
}

// NewRegistry is drover's own registry (never the global default one, so
// that nothing else linked into the binary leaks series into /metrics):
// the Collector plus the Go runtime and process collectors. It is built at
// the first scrape: a pod nobody scrapes should not carry the collectors'
// tables in PID 1's memory. extra are registered with them then (the
// caller's own counters, such as drover's dropped log lines).
func NewRegistry(src Source, version string, names Names, extra ...prometheus.Collector) prometheus.Gatherer {
	return &lazyGatherer{build: func() prometheus.Gatherer {
		reg := newRegistry(src, version, names, DefaultTimeout)
		reg.MustRegister(extra...)
		return reg
	}}
}

type lazyGatherer struct {
	once  sync.Once
	build func() prometheus.Gatherer
	g     prometheus.Gatherer
}

func (l *lazyGatherer) Gather() ([]*dto.MetricFamily, error) {
	l.once.Do(func() { l.g = l.build() })
	return l.g.Gather()
}

func newRegistry(src Source, version string, names Names, timeout time.Duration) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src, version, names, timeout),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.workers, c.desired, c.minReady, c.restarts,
		c.orphans, c.cpuBudget, c.cpuChanges, c.ready, c.draining, c.signals, c.rss, c.cpuSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the loop does not answer it
// reports an error for the state metrics instead of stale or made-up values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, c.version)
	s, err := takeSnapshot(context.Background(), c.src, Query{Usage: true}, c.timeout)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.ready, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}

	byState := make(map[string]int)
	for _, st := range c.names.States {
		byState[st] = 0
	}
	type slot struct {
		rss        int64
		cpu, total float64
	}
	slots := make(map[int]slot)
	for _, w := range s.Workers {
		if w.State != "" {
			byState[w.State]++
		}
		sl := slots[w.ID]
		sl.rss += w.RSS
		sl.cpu += w.CPUSeconds
		sl.total = max(sl.total, w.CPUSecondsTotal) // both workers of a reloading slot carry it
		slots[w.ID] = sl
	}
	for _, st := range slices.Sorted(maps.Keys(byState)) {
		gauge(c.workers, float64(byState[st]), st)
	}
	for _, id := range slices.Sorted(maps.Keys(slots)) {
		label := strconv.Itoa(id)
		gauge(c.rss, float64(slots[id].rss), label)
		cpu := slots[id].total
		if cpu == 0 {
			cpu = slots[id].cpu
		}
		counter(c.cpuSeconds, c.monotonicCPU(id, cpu), label)
	}

	gauge(c.desired, float64(s.Desired))
	gauge(c.minReady, float64(s.MinReady))
	gauge(c.cpuBudget, s.CPU.Cores) // from this scrape's snapshot: the budget can change at runtime
	counter(c.cpuChanges, float64(s.CPU.Changes))
	gauge(c.ready, boolFloat(s.IsReady()))
	gauge(c.draining, boolFloat(s.Draining))
	counter(c.orphans, float64(s.Orphans))
	for reason, n := range withKeys(s.Restarts, c.names.Reasons) {
		counter(c.restarts, float64(n), reason)
	}
	for sig, n := range withKeys(s.Signals, c.names.Signals) {
		counter(c.signals, float64(n), sig)
	}
}

// monotonicCPU returns v, or the value last exported for slot if that is
// higher, and remembers the result.
func (c *Collector) monotonicCPU(slot int, v float64) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	v = max(v, c.lastCPU[slot])
	c.lastCPU[slot] = v
	return v
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
