package health

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	s := sampleSnapshot()
	// A rolling reload: slot 0 also has its replacement starting.
	s.Workers = append(s.Workers, Worker{ID: 0, Pid: 90, Generation: 2, State: "starting", RSS: 1 << 20, CPUSeconds: 0.25, CPUSecondsTotal: 1.5})
	c := NewCollector(fakeSource{snap: s}, "v1.2.3", testNames, testTimeout)

	const want = `
# HELP drover_build_info Always 1; the version label identifies the drover build.
# TYPE drover_build_info gauge
drover_build_info{version="v1.2.3"} 1
# HELP drover_cpu_budget_cores CPU budget the worker count was sized from, in cores.
# TYPE drover_cpu_budget_cores gauge
drover_cpu_budget_cores 1.5
# HELP drover_cpu_budget_changes_total Changes of the CPU budget seen while running.
# TYPE drover_cpu_budget_changes_total counter
drover_cpu_budget_changes_total 1
# HELP drover_draining 1 while drover shuts down and fails /readyz.
# TYPE drover_draining gauge
drover_draining 0
# HELP drover_orphans_reaped_total Exited processes reaped that were not workers.
# TYPE drover_orphans_reaped_total counter
drover_orphans_reaped_total 7
# HELP drover_ready 1 when /readyz passes: not draining and enough workers ready.
# TYPE drover_ready gauge
drover_ready 0
# HELP drover_signals_forwarded_total Signals forwarded to workers, by signal name.
# TYPE drover_signals_forwarded_total counter
drover_signals_forwarded_total{signal="SIGHUP"} 0
drover_signals_forwarded_total{signal="SIGQUIT"} 0
drover_signals_forwarded_total{signal="SIGUSR1"} 3
drover_signals_forwarded_total{signal="SIGUSR2"} 0
drover_signals_forwarded_total{signal="SIGWINCH"} 0
# HELP drover_worker_cpu_seconds_total User and system CPU time of every worker the slot has run, with their process trees.
# TYPE drover_worker_cpu_seconds_total counter
drover_worker_cpu_seconds_total{worker="0"} 1.5
drover_worker_cpu_seconds_total{worker="1"} 7.5
drover_worker_cpu_seconds_total{worker="2"} 3
# HELP drover_worker_resident_memory_bytes Resident memory of the worker slot's process trees.
# TYPE drover_worker_resident_memory_bytes gauge
drover_worker_resident_memory_bytes{worker="0"} 1.3946061e+07
drover_worker_resident_memory_bytes{worker="1"} 3.145728e+06
drover_worker_resident_memory_bytes{worker="2"} 0
# HELP drover_worker_restarts_total Worker restarts by reason.
# TYPE drover_worker_restarts_total counter
drover_worker_restarts_total{reason="exit"} 4
drover_worker_restarts_total{reason="memory"} 0
drover_worker_restarts_total{reason="reload"} 0
drover_worker_restarts_total{reason="startup-timeout"} 0
drover_worker_restarts_total{reason="watchdog"} 2
# HELP drover_workers Worker processes by state; slots waiting to restart count as backoff.
# TYPE drover_workers gauge
drover_workers{state="backoff"} 1
drover_workers{state="exited"} 0
drover_workers{state="ready"} 1
drover_workers{state="starting"} 2
drover_workers{state="stopping"} 0
# HELP drover_workers_desired Desired number of workers.
# TYPE drover_workers_desired gauge
drover_workers_desired 3
# HELP drover_workers_min_ready Ready workers needed for /readyz to pass (DROVER_MIN_READY resolved).
# TYPE drover_workers_min_ready gauge
drover_workers_min_ready 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// The 0/1 gauges follow /readyz exactly.
func TestCollectorReadyDraining(t *testing.T) {
	tests := []struct {
		snap                 Snapshot
		wantReady, wantDrain float64
	}{
		{pool(4, 2, 2), 1, 0},
		{pool(4, 1, 2), 0, 0},
		{func() Snapshot { s := pool(4, 4, 2); s.Draining = true; return s }(), 0, 1},
	}
	for i, tt := range tests {
		c := NewCollector(fakeSource{snap: tt.snap}, "v", testNames, testTimeout)
		if got := testutil.ToFloat64(only(c, "drover_ready")); got != tt.wantReady {
			t.Errorf("%d: drover_ready = %v, want %v", i, got, tt.wantReady)
		}
		if got := testutil.ToFloat64(only(c, "drover_draining")); got != tt.wantDrain {
			t.Errorf("%d: drover_draining = %v, want %v", i, got, tt.wantDrain)
		}
		if got := testutil.ToFloat64(only(c, "drover_workers_desired")); got != 4 {
			t.Errorf("%d: drover_workers_desired = %v", i, got)
		}
	}
}

func TestCollectorLoopNotAnswering(t *testing.T) {
	reg := newRegistry(fakeSource{err: errors.New("loop stopped")}, "v9", testNames, testTimeout)
	mfs, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "loop stopped") {
		t.Errorf("Gather error = %v, want the loop's error", err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["drover_build_info"] || !names["go_goroutines"] || names["drover_workers"] {
		t.Errorf("gathered %v: want build info and runtime metrics, no made-up state", names)
	}
}

// only narrows a collector to one metric family, for testutil.ToFloat64.
func only(c prometheus.Collector, name string) prometheus.Collector { return filtered{c, name} }

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

// drover_worker_cpu_seconds_total is the slot's running total, and never
// goes down whatever the Source says.
func TestCollectorCPUCounterNeverDecreases(t *testing.T) {
	slot := func(w ...Worker) Snapshot { return Snapshot{Desired: 1, Workers: w} }
	src := &scriptSource{snaps: []Snapshot{
		slot(Worker{ID: 0, CPUSeconds: 4, CPUSecondsTotal: 5}),
		slot(Worker{ID: 0, CPUSeconds: 0.1, CPUSecondsTotal: 5.1}), // replaced: own CPU restarts
		slot(Worker{ID: 0, CPUSeconds: 0.2, CPUSecondsTotal: 2}),   // a Source bug: lower
		slot(Worker{ID: 0, CPUSeconds: 3}),                         // no total known: own CPU, lower
		slot(Worker{ID: 0, CPUSeconds: 1, CPUSecondsTotal: 7}, // a reload: both carry the total
			Worker{ID: 0, Generation: 1, CPUSeconds: 0.5, CPUSecondsTotal: 7}),
	}}
	c := NewCollector(src, "v", testNames, testTimeout)
	var got []float64
	for range 5 {
		got = append(got, testutil.ToFloat64(only(c, "drover_worker_cpu_seconds_total")))
	}
	want := []float64{5, 5.1, 5.1, 5.1, 7}
	if !slices.Equal(got, want) {
		t.Errorf("exported %v, want %v", got, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Errorf("scrape %d: counter went down from %v to %v", i, got[i-1], got[i])
		}
	}
}

// The budget gauge and change counter come from each scrape's snapshot:
// a budget that changes while drover runs shows at the next scrape.
func TestCollectorBudgetFollowsSnapshot(t *testing.T) {
	src := &scriptSource{snaps: []Snapshot{
		{CPU: CPU{Cores: 1}},
		{CPU: CPU{Cores: 2, Changes: 1, LastChange: CPUChange{From: 1, To: 2}}},
	}}
	c := NewCollector(src, "v", testNames, testTimeout)
	for i, want := range []struct{ cores, changes float64 }{{1, 0}, {2, 1}} {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if m := mf.GetMetric(); len(m) == 1 {
				got[mf.GetName()] = m[0].GetGauge().GetValue() + m[0].GetCounter().GetValue()
			}
		}
		if got["drover_cpu_budget_cores"] != want.cores || got["drover_cpu_budget_changes_total"] != want.changes {
			t.Errorf("scrape %d: cores %v, changes %v; want %v, %v", i,
				got["drover_cpu_budget_cores"], got["drover_cpu_budget_changes_total"], want.cores, want.changes)
		}
	}
}

// NewRegistry builds its collectors at the first scrape and serves them
// from then on.
func TestNewRegistryLazy(t *testing.T) {
	src := &scriptSource{snaps: []Snapshot{pool(1, 1, 1)}}
	g := NewRegistry(src, "v7", testNames)
	if n := len(src.asked()); n != 0 {
		t.Fatalf("the source was asked %d times before any scrape", n)
	}
	for range 2 {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, mf := range mfs {
			names[mf.GetName()] = true
		}
		for _, want := range []string{"drover_build_info", "drover_workers", "go_goroutines", "process_resident_memory_bytes"} {
			if !names[want] {
				t.Errorf("no %s in %v", want, names)
			}
		}
	}
}
