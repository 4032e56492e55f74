package e2e

// Readiness from sd_notify: READY=1, STATUS=, STOPPING=1 from Go, Python
// and a worker's child; DROVER_STARTUP_TIMEOUT; DROVER_MIN_READY.

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// READY=1 from a Go worker makes it ready; STATUS= shows in /status;
// STOPPING=1 makes it not ready again.
func TestHealthReadinessFollowsNotify(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=1", "DROVER_READY=notify"}, workerArgs(t, "hz-worker")...)
	var pid int
	for pid = range d.infos(1) {
	}
	d.waitLog(`worker started worker=0 `, 1, 10*time.Second) // may come after the worker's own writes
	if logged := d.workerPids()[0]; len(logged) != 1 || logged[0] != pid {
		t.Fatalf("worker pids in the log %v, the worker says it is %d", logged, pid)
	}
	d.expect("/readyz", 503, "[+]loop ok\n[+]draining ok\n[-]workers failed: 0 of 1 workers ready, need 1\nreadyz check failed\n")
	if s := d.status(); s.Workers[0].State != "starting" || s.Workers[0].Ready {
		t.Errorf("before READY=1: state %q ready %v, want starting, not ready", s.Workers[0].State, s.Workers[0].Ready)
	}

	d.notifyFrom(pid, "READY=1\nSTATUS=warmed up")
	s := d.waitStatus("READY=1 to count", 5*time.Second, readyIs(1))
	if w := s.Workers[0]; w.State != "ready" || w.Status != "warmed up" || w.Pid != pid {
		t.Errorf("after READY=1: %+v, want ready, status %q, pid %d", w, "warmed up", pid)
	}
	d.expect("/readyz", 200, "ok")

	d.notifyFrom(pid, "STATUS=serving 42 requests")
	d.waitStatus("STATUS= to show", 5*time.Second, func(s statusDoc) bool { return s.Workers[0].Status == "serving 42 requests" })
	d.expect("/readyz", 200, "ok")

	d.notifyFrom(pid, "STOPPING=1")
	s = d.waitStatus("STOPPING=1 to count", 5*time.Second, readyIs(0))
	if w := s.Workers[0]; w.Ready || w.State != "stopping" {
		t.Errorf("after STOPPING=1: %+v, want stopping, not ready", w)
	}
	d.expect("/readyz", 503, "[+]loop ok\n[+]draining ok\n[-]workers failed: 0 of 1 workers ready, need 1\nreadyz check failed\n")
	d.stop()
}

// READY=1 sent by a child of the worker (the app under a shell wrapper that
// does not exec) counts for the worker: drover finds it by its credentials.
func TestHealthReadyFromWorkersChild(t *testing.T) {
	args := append([]string{"sh", "-c", `"$@"; exit $?`, "sh"}, workerArgs(t, "hz-worker")...)
	d := startHealth(t, []string{"DROVER_WORKERS=1", "DROVER_READY=notify"}, args...)
	var child int
	for child = range d.infos(1) {
	}
	d.waitLog(`worker started worker=0 `, 1, 10*time.Second) // may come after the worker's own writes
	worker := d.workerPids()[0][0]
	if child == worker {
		t.Fatalf("the sender %d is the worker itself; the shell exec'd it, so this proves nothing", child)
	}
	d.notifyFrom(child, "READY=1\nSTATUS=from the child")
	s := d.waitStatus("the child's READY=1 to count", 5*time.Second, readyIs(1))
	if w := s.Workers[0]; w.Pid != worker || w.Status != "from the child" {
		t.Errorf("worker %+v, want pid %d (the shell) with the child's status", w, worker)
	}
	d.expect("/readyz", 200, "ok")
	d.stop()
}

// A Python app using only the standard library's socket module can report
// READY=1, on a socket file and on an abstract socket (what drover uses
// when TMPDIR is not writable, as with readOnlyRootFilesystem).
func TestHealthPythonNotifySender(t *testing.T) {
	require(t, "python3")
	python, err := realPython()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tmpdir, prefix string
	}{
		{"file", t.TempDir(), "/"},
		{"abstract", "/nonexistent-drover-tmp", "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startHealth(t, []string{"DROVER_WORKERS=1", "DROVER_READY=notify", "TMPDIR=" + tc.tmpdir},
				python, testdata("health/notify.py"))
			sock := strings.TrimSpace(waitFile(t, filepath.Join(d.dir, "socket"), `\S`, 10*time.Second))
			if !strings.HasPrefix(sock, tc.prefix) {
				t.Errorf("NOTIFY_SOCKET=%q, want it to start with %q", sock, tc.prefix)
			}
			d.expect("/readyz/workers", 503, "[-]workers failed: 0 of 1 workers ready, need 1\n")
			writeAtomically(t, filepath.Join(d.dir, "go"), "")
			s := d.waitStatus("Python's READY=1 to count", 5*time.Second, readyIs(1))
			d.waitLog(`worker started worker=0 `, 1, 10*time.Second) // drover's log may lag its state
			pid := d.workerPids()[0][0]
			if w := s.Workers[0]; w.Status != "python pid "+strconv.Itoa(pid) {
				t.Errorf("status %q, want %q", w.Status, "python pid "+strconv.Itoa(pid))
			}
			d.expect("/readyz", 200, "ok")
			d.stop()
		})
	}
}

// A worker that never sends READY=1 is stopped after DROVER_STARTUP_TIMEOUT
// and restarted with reason startup-timeout.
func TestHealthStartupTimeout(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=1", "DROVER_READY=notify", "DROVER_STARTUP_TIMEOUT=300ms", "DROVER_CRASH_LIMIT=0"},
		workerArgs(t, "hz-worker")...)
	d.waitLog(`worker sent no READY=1 on NOTIFY_SOCKET within 300ms \(DROVER_READY=notify: does the server send sd_notify\?\); stopping it worker=0 .*DROVER_STARTUP_TIMEOUT=300ms`, 1, 5*time.Second)
	d.waitStatus("a startup-timeout restart", 5*time.Second, func(s statusDoc) bool { return s.Restarts["startup-timeout"] >= 1 })
	mfs := d.metrics()
	if v := metricValue(t, mfs, "drover_worker_restarts_total", "reason", "startup-timeout"); v < 1 {
		t.Errorf("drover_worker_restarts_total{reason=startup-timeout} = %v, want >= 1", v)
	}
	if v := metricValue(t, mfs, "drover_worker_restarts_total", "reason", "exit"); v != 0 {
		t.Errorf("drover_worker_restarts_total{reason=exit} = %v, want 0: a timeout is not an exit", v)
	}
	d.stop()
}

// DROVER_MIN_READY against the real server, as counts and percentages for
// 1 to 4 workers: /readyz passes from the k-th ready worker on, where k is
// the percentage of the workers rounded up, or the count capped at the pool.
func TestHealthMinReady(t *testing.T) {
	need := map[string][4]int{ // setting -> need for 1, 2, 3, 4 workers
		"":     {1, 1, 2, 2}, // default 50%
		"34%":  {1, 1, 2, 2},
		"100%": {1, 2, 3, 4},
		"0%":   {0, 0, 0, 0},
		"3":    {1, 2, 3, 3},
		"1":    {1, 1, 1, 1},
	}
	for setting, needs := range need {
		for n := 1; n <= 4; n++ {
			t.Run(fmt.Sprintf("%s/%d", cmp.Or(setting, "default"), n), func(t *testing.T) {
				t.Parallel()
				env := []string{"DROVER_WORKERS=" + strconv.Itoa(n), "DROVER_READY=notify"}
				if setting != "" {
					env = append(env, "DROVER_MIN_READY="+setting)
				}
				d := startHealth(t, env, workerArgs(t, "hz-worker")...)
				pids := slices.Sorted(maps.Keys(d.infos(n)))
				want := needs[n-1]
				for k := 0; k <= n; k++ {
					if k > 0 {
						d.notifyFrom(pids[k-1], "READY=1")
					}
					s := d.waitStatus(fmt.Sprintf("%d ready", k), 5*time.Second, readyIs(k))
					if s.MinReady != want || s.Desired != n {
						t.Fatalf("/status min_ready %d desired %d, want %d and %d", s.MinReady, s.Desired, want, n)
					}
					code, body := d.get("/readyz")
					switch {
					case k >= want && (code != 200 || body != "ok"):
						t.Errorf("%d of %d ready, need %d: /readyz = %d %q, want 200", k, n, want, code, body)
					case k < want && (code != 503 || !strings.Contains(body,
						fmt.Sprintf("[-]workers failed: %d of %d workers ready, need %d\n", k, n, want))):
						t.Errorf("%d of %d ready, need %d: /readyz = %d %q, want 503 naming the counts", k, n, want, code, body)
					}
				}
				d.stop()
			})
		}
	}
}

// A DROVER_MIN_READY count above the pool is capped, with one line at
// start saying so (issue 17), and /readyz passes once every worker is.
func TestHealthMinReadyAboveThePool(t *testing.T) {
	d := startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_MIN_READY=5"}, "sleep", "1000")
	d.waitLog(`^drover: warning: DROVER_MIN_READY=5 is more than the 2 workers: /readyz passes when all of them are ready$`, 1, 10*time.Second)
	d.waitStatus("both workers ready", 10*time.Second, readyIs(2))
	d.expect("/readyz", 200, "ok")
	d.stop()
}
