package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Traffic through the Service's ClusterIP, from clients that open a new
// connection for every request, while `kubectl rollout restart` replaces
// both pods and then one pod is deleted. kube-proxy drops a terminating
// pod from its rules about 0.8 s after the EndpointSlice says so; until
// then new connections still go to it, and DROVER_DRAIN_DELAY keeps its
// workers serving them. The chart's 5s and the documented minimum 2s lose
// nothing; 0s, the control that shows the count can be anything but
// zero, loses requests.
func TestRolloutThroughService(t *testing.T) {
	c := need(t)
	const release = "web"
	// Two pods and a surge pod of 500m fit the node's 2 CPUs.
	c.install(t, release, "replicaCount=2", "resources.requests.cpu=500m", "resources.requests.memory=64Mi")
	c.awaitReady(t, release, 2, 3*time.Minute)
	var svc corev1.Service
	if err := c.api.get("/api/v1/namespaces/default/services/web-drover", &svc); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:%d/", svc.Spec.ClusterIP, 80)
	c.awaitRouted(t, url)
	const clients, perClient = 8, 60

	for _, drain := range []string{"5s", "2s", "0s"} {
		if drain != "5s" {
			if _, err := c.helm("upgrade", release, chartDir, "--reuse-values", "--set", "drover.drainDelay="+drain); err != nil {
				t.Fatal(err)
			}
			c.awaitRollout(t, release, 2)
			c.awaitRouted(t, url)
		}
		load := c.startLoad(url, clients, perClient)
		load.waitRequests(t, 200)
		if r := load.snapshot(); r.failed != 0 {
			t.Fatalf("%d of %d requests failed before the rollout started %s", r.failed, r.total, r.reasons())
		}

		t0 := time.Now()
		if _, err := c.kubectl("rollout", "restart", "deployment/web-drover"); err != nil {
			t.Fatal(err)
		}
		c.awaitRollout(t, release, 2)
		rollout := time.Since(t0)

		victim := c.awaitReady(t, release, 2, time.Minute)[0].Name
		t1 := time.Now()
		if _, err := c.kubectl("delete", "pod", victim, "--wait=false"); err != nil {
			t.Fatal(err)
		}
		c.awaitGone(t, victim, 2*time.Minute)
		c.awaitReady(t, release, 2, 2*time.Minute)
		deletion := time.Since(t1)
		load.waitRequests(t, load.count()+200)
		r := load.stop()

		t.Logf("DROVER_DRAIN_DELAY %s: %d requests through %s (%d clients at %d/s, a new connection each), %d failed%s; rollout restart %v, pod deletion to a Ready replacement %v",
			drain, r.total, url, clients, perClient, r.failed, r.reasons(), rollout.Round(time.Millisecond), deletion.Round(time.Millisecond))
		if r.failed > 0 {
			t.Logf("DROVER_DRAIN_DELAY %s: failures from %v to %v after the rollout restart (the deletion at %v)",
				drain, r.firstFail.Sub(t0).Round(time.Millisecond), r.lastFail.Sub(t0).Round(time.Millisecond), t1.Sub(t0).Round(time.Millisecond))
		}
		if drain != "0s" && r.failed != 0 {
			t.Logf("the first failures: %s", strings.Join(r.some, "; "))
		}
		switch {
		case drain != "0s" && r.failed != 0:
			t.Errorf("DROVER_DRAIN_DELAY %s: %d of %d requests failed during the rollout and the deletion, want 0", drain, r.failed, r.total)
		case drain == "0s" && r.failed == 0:
			t.Errorf("DROVER_DRAIN_DELAY 0s: no request failed; the test cannot see what the drain delay is for")
		}
	}
}

// awaitRouted waits until kube-proxy routes the Service to Ready pods:
// 20 requests in a row answered. Pods are Ready before kube-proxy has
// their endpoints; until then the Service refuses connections.
func (c *cluster) awaitRouted(t *testing.T, url string) {
	t.Helper()
	hc := c.httpClient(2 * time.Second)
	ok, refused := 0, 0
	start := time.Now()
	var first time.Time
	err := c.await(time.Minute, "the Service routes", func() (bool, string) {
		why := get(context.Background(), hc, url)
		if why != "" {
			ok, first = 0, time.Time{}
			refused++
			return false, why
		}
		if ok++; ok == 1 {
			first = time.Now()
		}
		return ok >= 20, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the Service answers %v after its pods were Ready (%d requests failed before)", first.Sub(start).Round(time.Millisecond), refused)
}

// awaitRollout waits until the Deployment has rolled out: every replica
// updated and available, and no pod of an older ReplicaSet left running.
func (c *cluster) awaitRollout(t *testing.T, release string, n int) {
	t.Helper()
	if _, err := c.kubectl("rollout", "status", "deployment/"+release+"-drover", "--timeout=180s"); err != nil {
		c.dumpLogs(t)
		t.Fatal(err)
	}
	c.awaitReady(t, release, n, 2*time.Minute)
}

func (c *cluster) awaitGone(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	err := c.await(timeout, "pod "+name+" is gone", func() (bool, string) {
		code, body, err := c.api.raw(http.MethodGet, "/api/v1/namespaces/default/pods/"+name, "", nil)
		if err != nil {
			return false, err.Error()
		}
		return code == 404, fmt.Sprint(code, " ", firstLine(body))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// load is a set of clients sending GETs in a loop until stopped.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    loadResult
	more   chan struct{}
	diag   atomic.Int32
}

// conntrackSummary counts the namespace's conntrack entries for port 80
// by state and destination, to tell where a "no route to host" went.
func conntrackSummary() string {
	out, _ := inNetns("cat", "/proc/net/nf_conntrack").Output()
	n := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 10 || f[2] != "tcp" || !strings.Contains(l, "dport=80 ") {
			continue
		}
		var reply string
		for _, x := range f {
			if strings.HasPrefix(x, "src=10.124.") {
				reply = x
			}
		}
		n[f[5]+" "+reply]++
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

type loadResult struct {
	total, failed       int
	why                 map[string]int
	firstFail, lastFail time.Time
	some                []string // the first failures, with the time of day
}

func (r loadResult) reasons() string {
	if len(r.why) == 0 {
		return ""
	}
	var parts []string
	for k, v := range r.why {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

// startLoad starts clients that each send perClient requests a second,
// every one on a new connection from a new source port.
//
// The rate is bounded for a reason of the test's own making: one client
// address opening thousands of connections a second to one Service port
// comes back to the same source port within seconds. A connection that was
// closing when its pod went away leaves a conntrack entry (FIN_WAIT,
// CLOSE_WAIT) bound to the dead pod until kube-proxy flushes it, and a SYN
// from the same source port in that window most likely follows it there:
// unbounded (~2,000 connections a second), 2 of 16 runs lost 2 requests
// each, always "no route to host", never refused or reset. At this rate,
// over the namespace's whole port range, a port comes back only after
// about a minute, long after those entries are gone.
func (c *cluster) startLoad(url string, clients, perClient int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, res: loadResult{why: map[string]int{}}, more: make(chan struct{}, 1)}
	hc := c.httpClient(5 * time.Second)
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(time.Second / time.Duration(perClient))
			defer tick.Stop()
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				why := get(ctx, hc, url)
				if why == "no route to host" && l.diag.Add(1) <= 2 { // where did it go?
					l.mu.Lock()
					l.res.some = append(l.res.some, "conntrack: "+conntrackSummary())
					l.mu.Unlock()
				}
				if ctx.Err() != nil {
					return // stopping cut this request short
				}
				l.mu.Lock()
				l.res.total++
				if why != "" {
					now := time.Now()
					if l.res.failed == 0 {
						l.res.firstFail = now
					}
					l.res.lastFail = now
					l.res.failed++
					l.res.why[why]++
					if len(l.res.some) < 12 {
						l.res.some = append(l.res.some, now.Format("15:04:05.000")+" "+why)
					}
				}
				l.mu.Unlock()
				select {
				case l.more <- struct{}{}:
				default:
				}
			}
		}()
	}
	return l
}

// get does one request and says why it failed, "" if it did not.
func get(ctx context.Context, hc *http.Client, url string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case err != nil && strings.Contains(err.Error(), "Timeout"):
		return "timeout"
	case err != nil:
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return "body: " + err.Error()
	case resp.StatusCode != 200:
		return resp.Status
	case !strings.HasPrefix(string(b), "hello from worker"):
		return fmt.Sprintf("unexpected body %.40q", b)
	}
	return ""
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res.total
}

// waitRequests waits until n requests were sent in all.
func (l *load) waitRequests(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(time.Minute)
	for l.count() < n {
		select {
		case <-l.more:
		case <-deadline:
			t.Fatalf("only %d requests in a minute, want %d", l.count(), n)
		}
	}
}

func (l *load) snapshot() loadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

func (l *load) stop() loadResult {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}
