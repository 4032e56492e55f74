package health

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBindFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	_, err = New(Options{Addr: addr, Source: fakeSource{}})
	if err == nil {
		t.Fatal("New on a taken port succeeded")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("errors.Is(%v, EADDRINUSE) = false", err)
	}
	msg := err.Error()
	for _, want := range []string{"DROVER_HEALTH_ADDR", addr, "port " + port + " is already in use"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
}

func TestListenBadAddress(t *testing.T) {
	for _, addr := range []string{"8081", "", "127.0.0.1:notaport", "[::1"} {
		_, err := Listen(addr)
		if err == nil || !strings.Contains(err.Error(), "DROVER_HEALTH_ADDR") {
			t.Errorf("Listen(%q) = %v, want an error naming DROVER_HEALTH_ADDR", addr, err)
		}
	}
	if _, err := New(Options{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("New without a Source succeeded")
	}
}

// Startup can fail after New (another actor's setup); the port must be
// released without Serve ever running.
func TestShutdownWithoutServe(t *testing.T) {
	srv, err := New(Options{Addr: "127.0.0.1:0", Source: fakeSource{}})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Shutdown: %v", err)
	}
	ln.Close()
}

func sampleSnapshot() Snapshot {
	t0 := time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC)
	return Snapshot{
		Version: "v1.2.3", Desired: 3, MinReady: 2,
		CPU: CPU{Cores: 1.5, Exact: "3/2", Source: "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu", Reason: "ceil(1.5) = 2, DROVER_WORKERS_PER_CPU=2",
			Changes: 1, LastChange: CPUChange{Time: t0.Add(-time.Minute), From: 1, To: 1.5, Source: "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu"}},
		Workers: []Worker{
			{ID: 0, Pid: 41, Generation: 1, State: "ready", Ready: true, Started: t0.Add(-192 * time.Second),
				Status: "listening on :8080", RSS: 12_897_485, CPUSeconds: 1.25, CPUSecondsTotal: 1.25},
			{ID: 1, Pid: 57, Generation: 3, State: "starting", Restarts: 2, Started: t0.Add(-4 * time.Second),
				LastExit: "signal SIGKILL", RSS: 3 << 20, CPUSeconds: 0.02, CPUSecondsTotal: 7.5},
			{ID: 2, Generation: 5, State: "backoff", Restarts: 4, LastExit: "exit 1", CPUSecondsTotal: 3},
		},
		Restarts: map[string]uint64{"exit": 4, "watchdog": 2},
		Orphans:  7,
		Signals:  map[string]uint64{"SIGUSR1": 3},
		Started:  t0.Add(-3 * time.Hour),
		Time:     t0,
	}
}

// The /status JSON is a public interface: pin every key.
func TestStatusSchema(t *testing.T) {
	addr := startServer(t, fakeSource{snap: sampleSnapshot()})
	r := httpGet(t, addr, "/status")
	if r.code != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("/status = %d %s %q", r.code, r.header.Get("Content-Type"), r.body)
	}
	const want = `{
  "version": "v1.2.3", "desired": 3, "ready": 1, "min_ready": 2, "draining": false,
  "cpu": {"cores": 1.5, "exact": "3/2", "source": "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu",
          "reason": "ceil(1.5) = 2, DROVER_WORKERS_PER_CPU=2", "changes": 1,
          "last_change": {"time": "2025-11-27T11:59:00Z", "from_cores": 1, "to_cores": 1.5,
                          "source": "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu"}},
  "workers": [
    {"id": 0, "pid": 41, "generation": 1, "state": "ready", "ready": true, "restarts": 0,
     "started": "2025-11-27T11:56:48Z", "last_exit": "", "status": "listening on :8080",
     "rss_bytes": 12897485, "cpu_seconds": 1.25, "cpu_seconds_total": 1.25},
    {"id": 1, "pid": 57, "generation": 3, "state": "starting", "ready": false, "restarts": 2,
     "started": "2025-11-27T11:59:56Z", "last_exit": "signal SIGKILL", "status": "",
     "rss_bytes": 3145728, "cpu_seconds": 0.02, "cpu_seconds_total": 7.5},
    {"id": 2, "pid": 0, "generation": 5, "state": "backoff", "ready": false, "restarts": 4,
     "last_exit": "exit 1", "status": "", "rss_bytes": 0, "cpu_seconds": 0, "cpu_seconds_total": 3}
  ],
  "restarts": {"exit": 4, "watchdog": 2, "memory": 0, "startup-timeout": 0, "reload": 0},
  "orphans_reaped": 7,
  "signals_forwarded": {"SIGUSR1": 3},
  "started": "2025-11-27T09:00:00Z",
  "time": "2025-11-27T12:00:00Z"
}`
	var got, exp any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("/status JSON:\n%s\nwant:\n%s", r.body, want)
	}
}

// An empty pool still gives arrays and objects, never null, and a time.
func TestStatusEmpty(t *testing.T) {
	addr := startServer(t, fakeSource{snap: Snapshot{Version: "v0"}})
	r := httpGet(t, addr, "/status")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workers", "restarts", "signals_forwarded"} {
		if m[k] == nil {
			t.Errorf("%s is null in %s", k, r.body)
		}
	}
	if ts, _ := m["time"].(string); ts == "" || strings.HasPrefix(ts, "0001") {
		t.Errorf("time not set: %q", ts)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	addr := startServer(t, fakeSource{snap: pool(2, 1, 1)})
	r := httpGet(t, addr, "/metrics")
	for _, want := range []string{`drover_build_info{version="v1.2.3"} 1`, `drover_workers{state="ready"} 1`,
		"drover_ready 1", "go_goroutines", "process_resident_memory_bytes"} {
		if r.code != 200 || !strings.Contains(r.body, want) {
			t.Errorf("/metrics = %d, lacks %q", r.code, want)
		}
	}

	// A hung loop must not hide the runtime metrics that help explain it.
	addr = startServer(t, stuckSource{})
	r = httpGet(t, addr, "/metrics")
	if r.code != 200 || !strings.Contains(r.body, "go_goroutines") || !strings.Contains(r.body, "drover_build_info") {
		t.Errorf("/metrics with a stuck loop = %d:\n%s", r.code, r.body)
	}
	if strings.Contains(r.body, "drover_ready") {
		t.Error("/metrics made up drover_ready while the loop did not answer")
	}
}

func TestNoGatherer(t *testing.T) {
	srv, err := New(Options{Addr: "127.0.0.1:0", Source: fakeSource{}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	if r := httpGet(t, srv.Addr().String(), "/metrics"); r.code != 404 {
		t.Errorf("/metrics without a Gatherer = %d", r.code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-ctx.Done():
		t.Error("Serve did not return")
	}
}
