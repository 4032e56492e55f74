package health

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Collector exports drover's state to Prometheus. It builds every sample
// from a fresh Snapshot at scrape time, so there is no second copy of the
// state to keep in sync with the pool.
//
// Per-worker series are labelled by slot id ("worker"), never by pid, so
// cardinality stays bounded by the pool size across any number of restarts.
// While a rolling reload briefly puts an old and a new worker in one slot,
// their figures are summed: that is what the slot really costs against the
// container's limits. When the old worker exits the slot's CPU counter
// drops, which Prometheus handles as an ordinary counter reset.
type Collector struct {
	src     Source
	version string
	timeout time.Duration

	buildInfo, workers, desired, minReady, restarts, orphans,
	cpuBudget, ready, draining, signals, rss, cpuSeconds *prometheus.Desc
}

// NewCollector returns a collector over src. version labels drover_build_info,
// which stays available even when the supervision loop does not answer.
// timeout bounds the wait for a Snapshot per scrape; 0 means DefaultTimeout.
func NewCollector(src Source, version string, timeout time.Duration) *Collector {
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
		buildInfo:  d("drover_build_info", "Always 1; the version label identifies the drover build.", "version"),
		workers:    d("drover_workers", "Worker processes by state; slots waiting to restart count as backoff.", "state"),
		desired:    d("drover_workers_desired", "Desired number of workers."),
		minReady:   d("drover_workers_min_ready", "Ready workers needed for /readyz to pass (DROVER_MIN_READY resolved)."),
		restarts:   d("drover_worker_restarts_total", "Worker restarts by reason.", "reason"),
		orphans:    d("drover_orphans_reaped_total", "Exited processes reaped that were not workers."),
		cpuBudget:  d("drover_cpu_budget_cores", "CPU budget the worker count was sized from, in cores."),
		ready:      d("drover_ready", "1 when /readyz passes: not draining and enough workers ready."),
		draining:   d("drover_draining", "1 while drover shuts down and fails /readyz."),
		signals:    d("drover_signals_forwarded_total", "Signals forwarded to workers, by signal name.", "signal"),
		rss:        d("drover_worker_resident_memory_bytes", "Resident memory of the worker slot's process groups.", "worker"),
		cpuSeconds: d("drover_worker_cpu_seconds_total", "User and system CPU time of the worker slot's process groups.", "worker"),
	}
}

// NewRegistry is drover's own registry (never the global default one, so
// that nothing else linked into the binary leaks series into /metrics):
// the Collector plus the Go runtime and process collectors.
func NewRegistry(src Source, version string) *prometheus.Registry {
	return newRegistry(src, version, DefaultTimeout)
}

func newRegistry(src Source, version string, timeout time.Duration) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src, version, timeout),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.workers, c.desired, c.minReady, c.restarts,
		c.orphans, c.cpuBudget, c.ready, c.draining, c.signals, c.rss, c.cpuSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the loop does not answer it
// reports an error for the state metrics instead of stale or made-up values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, c.version)
	s, err := takeSnapshot(context.Background(), c.src, c.timeout)
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
	for _, st := range workerStates() {
		byState[st] = 0
	}
	type slot struct {
		rss int64
		cpu float64
	}
	slots := make(map[int]slot)
	for _, w := range s.Workers {
		if w.State != "" {
			byState[w.State]++
		}
		sl := slots[w.ID]
		sl.rss += w.RSS
		sl.cpu += w.CPUSeconds
		slots[w.ID] = sl
	}
	for _, st := range slices.Sorted(maps.Keys(byState)) {
		gauge(c.workers, float64(byState[st]), st)
	}
	for _, id := range slices.Sorted(maps.Keys(slots)) {
		label := strconv.Itoa(id)
		gauge(c.rss, float64(slots[id].rss), label)
		counter(c.cpuSeconds, slots[id].cpu, label)
	}

	gauge(c.desired, float64(s.Desired))
	gauge(c.minReady, float64(s.MinReady))
	gauge(c.cpuBudget, s.CPU.Cores)
	gauge(c.ready, boolFloat(s.IsReady()))
	gauge(c.draining, boolFloat(s.Draining))
	counter(c.orphans, float64(s.Orphans))
	for reason, n := range withKeys(s.Restarts, restartReasons()) {
		counter(c.restarts, float64(n), reason)
	}
	for sig, n := range withKeys(s.Signals, forwardedSignals()) {
		counter(c.signals, float64(n), sig)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
