package e2e

// The endpoints' formats as users and tools read them: /readyz in the
// Kubernetes API server's format, /status JSON, /metrics.

import (
	"encoding/json"
	"maps"
	"math/big"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The verbose format is the Kubernetes API server's: one [+]/[-] line per
// check, then "readyz check passed|failed"; single checks and exclusions.
func TestHealthReadyzVerbose(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_READY=notify", "DROVER_MIN_READY=2", "DROVER_DRAIN_DELAY=20s"},
		workerArgs(t, "hz-worker")...)
	pids := slices.Sorted(maps.Keys(d.infos(2)))
	d.notifyFrom(pids[0], "READY=1")
	d.waitStatus("1 ready", 5*time.Second, readyIs(1))

	failing := "[+]loop ok\n[+]draining ok\n[-]workers failed: 1 of 2 workers ready, need 2\nreadyz check failed\n"
	d.expect("/readyz", 503, failing) // failures are always verbose
	d.expect("/readyz?verbose", 503, failing)
	d.expect("/readyz/workers", 503, "[-]workers failed: 1 of 2 workers ready, need 2\n")
	d.expect("/readyz/draining", 200, "ok")
	d.expect("/readyz/loop", 200, "ok")
	d.expect("/readyz?exclude=workers", 200, "ok")
	d.expect("/readyz?verbose&exclude=workers", 200, "[+]loop ok\n[+]draining ok\n[+]workers excluded: ok\nreadyz check passed\n")
	d.expect("/readyz?exclude=nosuch", 503,
		"[+]loop ok\n[+]draining ok\n[-]workers failed: 1 of 2 workers ready, need 2\n"+
			"warn: some health checks cannot be excluded: no matches for \"nosuch\"\nreadyz check failed\n")
	if code, body := d.get("/readyz/nosuch"); code != 404 || !strings.Contains(body, "loop, draining, workers") {
		t.Errorf("/readyz/nosuch = %d %q, want 404 listing the checks", code, body)
	}
	d.expect("/livez", 200, "ok")
	d.expect("/livez?verbose", 200, "[+]loop ok\nlivez check passed\n")

	d.notifyFrom(pids[1], "READY=1")
	d.waitStatus("2 ready", 5*time.Second, readyIs(2))
	d.expect("/readyz", 200, "ok")
	d.expect("/readyz?verbose", 200, "[+]loop ok\n[+]draining ok\n[+]workers ok\nreadyz check passed\n")

	d.signal(syscall.SIGTERM)
	d.waitStatus("draining", 5*time.Second, func(s statusDoc) bool { return s.Draining })
	d.expect("/readyz", 503, "[+]loop ok\n[-]draining failed: drover is shutting down\n[+]workers ok\nreadyz check failed\n")
	d.expect("/readyz/draining", 503, "[-]draining failed: drover is shutting down\n")
	d.expect("/readyz?exclude=draining", 200, "ok")
	d.expect("/readyz?verbose&exclude=draining", 200, "[+]loop ok\n[+]draining excluded: ok\n[+]workers ok\nreadyz check passed\n")
	d.expect("/livez", 200, "ok")

	// A second SIGTERM cuts the 20 s drain short.
	start := time.Now()
	d.stop()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("second SIGTERM: drover took %s to exit, the drain was not cut short", el)
	}
}

// /status is the documented JSON, with values that match the pool.
func TestHealthStatusJSON(t *testing.T) {
	before := time.Now()
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_READY=notify", "HZ_READY=1", "HZ_STATUS=up"}, workerArgs(t, "hz-worker")...)
	d.infos(2)

	// Every documented key, no more: decoding strictly only rejects extras.
	_, body := d.get("/status")
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	wantKeys := func(what string, m map[string]any, keys ...string) {
		t.Helper()
		got := slices.Sorted(maps.Keys(m))
		slices.Sort(keys)
		if !slices.Equal(got, keys) {
			t.Errorf("%s keys %v, want %v", what, got, keys)
		}
	}
	wantKeys("/status", raw, "version", "desired", "ready", "min_ready", "draining", "cpu", "workers",
		"restarts", "orphans_reaped", "signals_forwarded", "started", "time")
	cpu, _ := raw["cpu"].(map[string]any)
	wantKeys("cpu", cpu, "cores", "exact", "source", "reason", "changes")
	workers, _ := raw["workers"].([]any)
	if len(workers) != 2 {
		t.Fatalf("/status lists %d workers, want 2:\n%s", len(workers), body)
	}
	for _, w := range workers {
		w, _ := w.(map[string]any)
		wantKeys("worker", w, "id", "pid", "generation", "state", "ready", "restarts",
			"started", "last_exit", "status", "rss_bytes", "cpu_seconds", "cpu_seconds_total")
	}

	// RSS comes from the sampler, which runs every 2 s.
	s := d.waitStatus("2 ready workers with their RSS sampled", 10*time.Second, func(s statusDoc) bool {
		return s.Ready == 2 && len(s.Workers) == 2 && s.Workers[0].RSS > 0 && s.Workers[1].RSS > 0
	})
	d.waitLog(`worker started`, 2, 10*time.Second) // drover's log may lag its state
	logged := d.workerPids()
	if s.Desired != 2 || s.MinReady != 1 || s.Draining || s.Version == "" {
		t.Errorf("desired %d min_ready %d draining %v version %q; want 2, 1, false, set", s.Desired, s.MinReady, s.Draining, s.Version)
	}
	if s.Started.Before(before.Add(-time.Second)) || s.Time.Before(s.Started) {
		t.Errorf("started %v time %v, test began %v", s.Started, s.Time, before)
	}
	var exact float64
	if r, ok := new(big.Rat).SetString(s.CPU.Exact); ok {
		exact, _ = r.Float64()
	}
	if s.CPU.Cores <= 0 || exact != s.CPU.Cores || s.CPU.Source == "" || s.CPU.Reason != "DROVER_WORKERS=2" {
		t.Errorf("cpu %+v: want cores > 0 equal to exact, a source, reason DROVER_WORKERS=2", s.CPU)
	}
	for i, w := range s.Workers {
		if w.ID != i || w.Pid != logged[i][0] || w.State != "ready" || !w.Ready || w.Restarts != 0 ||
			w.Started.Before(s.Started) || w.LastExit != "" || w.Status != "up" || w.CPUSeconds < 0 {
			t.Errorf("worker %d: %+v; want pid %d, ready, no restarts, status up", i, w, logged[i][0])
		}
	}
	for _, r := range []string{"exit", "watchdog", "memory", "startup-timeout", "reload", "oom"} {
		if v, ok := s.Restarts[r]; !ok || v != 0 {
			t.Errorf("restarts[%q] = %d (present %v), want 0 and present", r, v, ok)
		}
	}
	if s.Orphans != 0 || len(s.Signals) != 0 {
		t.Errorf("orphans %d signals %v, want none", s.Orphans, s.Signals)
	}

	// kill -9 shows up as an exit restart of that slot only.
	victim := s.Workers[1].Pid
	syscall.Kill(d.hostPid(victim), syscall.SIGKILL)
	s = d.waitStatus("slot 1 to come back", 10*time.Second, func(s statusDoc) bool {
		return s.Ready == 2 && len(s.Workers) == 2 && s.Workers[1].Pid != victim
	})
	if w := s.Workers[1]; w.Restarts != 1 || w.LastExit != "signal SIGKILL" || s.Restarts["exit"] != 1 {
		t.Errorf("after kill -9: worker %+v restarts %v; want 1 restart, last exit signal SIGKILL", w, s.Restarts)
	}
	if w := s.Workers[0]; w.Pid != logged[0][0] || w.Restarts != 0 {
		t.Errorf("worker 0 was disturbed: %+v", w)
	}
	d.stop()
}

// /metrics has every documented name with values that match what happened:
// a kill -9 (restart reason exit), a SIGUSR1 forwarded, one orphan reaped.
func TestHealthMetrics(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_READY=notify", "HZ_READY=1"}, workerArgs(t, "hz-worker")...)
	d.infos(2)
	d.waitStatus("2 ready", 5*time.Second, readyIs(2))
	d.waitLog(`worker started`, 2, 10*time.Second) // drover's log may lag its state
	pids := d.workerPids()

	syscall.Kill(d.hostPid(pids[1][0]), syscall.SIGKILL)
	s := d.waitStatus("slot 1 back and ready", 10*time.Second, func(s statusDoc) bool {
		return s.Ready == 2 && len(s.Workers) == 2 && s.Restarts["exit"] == 1
	})
	d.signal(syscall.SIGUSR1)
	d.trigger("orphan", pids[0][0], "")
	s = d.waitStatus("the signal and the orphan counted", 10*time.Second, func(s statusDoc) bool {
		return s.Signals["SIGUSR1"] == 1 && s.Orphans == 1
	})
	d.waitStatus("RSS sampled", 10*time.Second, func(s statusDoc) bool { return s.Workers[0].RSS > 0 && s.Workers[1].RSS > 0 })

	mfs := d.metrics()
	want := `# TYPE drover_workers gauge
drover_workers{state="backoff"} 0
drover_workers{state="exited"} 0
drover_workers{state="ready"} 2
drover_workers{state="starting"} 0
drover_workers{state="stopped"} 0
drover_workers{state="stopping"} 0
# TYPE drover_workers_desired gauge
drover_workers_desired 2
# TYPE drover_workers_min_ready gauge
drover_workers_min_ready 1
# TYPE drover_worker_restarts_total counter
drover_worker_restarts_total{reason="exit"} 1
drover_worker_restarts_total{reason="memory"} 0
drover_worker_restarts_total{reason="oom"} 0
drover_worker_restarts_total{reason="reload"} 0
drover_worker_restarts_total{reason="startup-timeout"} 0
drover_worker_restarts_total{reason="watchdog"} 0
# TYPE drover_orphans_reaped_total counter
drover_orphans_reaped_total 1
# TYPE drover_ready gauge
drover_ready 1
# TYPE drover_draining gauge
drover_draining 0
# TYPE drover_signals_forwarded_total counter
drover_signals_forwarded_total{signal="SIGHUP"} 0
drover_signals_forwarded_total{signal="SIGQUIT"} 0
drover_signals_forwarded_total{signal="SIGUSR1"} 1
drover_signals_forwarded_total{signal="SIGUSR2"} 0
drover_signals_forwarded_total{signal="SIGWINCH"} 0
# TYPE drover_build_info gauge
drover_build_info{version="` + s.Version + `"} 1
`
	got := canonMetrics(mfs, "drover_workers", "drover_workers_desired", "drover_workers_min_ready",
		"drover_worker_restarts_total", "drover_orphans_reaped_total", "drover_ready", "drover_draining",
		"drover_signals_forwarded_total", "drover_build_info")
	if got != want {
		t.Errorf("metrics differ\n got:\n%s\nwant:\n%s", got, want)
	}

	if v := mfs["drover_cpu_budget_cores"].GetMetric(); len(v) != 1 || v[0].GetGauge().GetValue() != s.CPU.Cores {
		t.Errorf("drover_cpu_budget_cores = %v, want /status cpu.cores %v", v, s.CPU.Cores)
	}
	for _, w := range []string{"0", "1"} {
		if v := metricValue(t, mfs, "drover_worker_resident_memory_bytes", "worker", w); v < 1<<20 || v > 1<<30 {
			t.Errorf("drover_worker_resident_memory_bytes{worker=%s} = %v, want a Go program's RSS", w, v)
		}
		if v := metricValue(t, mfs, "drover_worker_cpu_seconds_total", "worker", w); v < 0 {
			t.Errorf("drover_worker_cpu_seconds_total{worker=%s} = %v", w, v)
		}
	}
	if n := len(mfs["drover_worker_resident_memory_bytes"].GetMetric()); n != 2 {
		t.Errorf("%d drover_worker_resident_memory_bytes series, want one per slot (2), never per pid", n)
	}
	for _, name := range []string{"go_goroutines", "go_info", "go_memstats_alloc_bytes", "process_cpu_seconds_total",
		"process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"} {
		if mfs[name] == nil {
			t.Errorf("%s missing: the Go and process collectors must be registered", name)
		}
	}
	d.stop()
}
