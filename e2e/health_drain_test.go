package e2e

// Graceful termination as Kubernetes drives it: SIGTERM, /readyz fails at
// once so the endpoint is taken out of rotation, the workers keep serving
// for DROVER_DRAIN_DELAY, then they get their stop signal.

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clientResult is one request of a client loop.
type clientResult struct {
	start, end time.Time
	code       int
	err        error
}

func (r clientResult) ok() bool { return r.err == nil && r.code == http.StatusOK }

// clientLoops are n client loops against url, each request on a new
// connection (as from many clients; a kept-alive connection would never
// reach accept again). A loop stops when stop is closed or, if the
// returned "until" is set, for requests that would start after it.
type clientLoops struct {
	mu      sync.Mutex
	results []clientResult
	until   time.Time // zero: no limit
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startClients(n int, url string) *clientLoops {
	c := &clientLoops{stop: make(chan struct{})}
	for range n {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			client := &http.Client{Timeout: 3 * time.Second,
				Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
			for {
				select {
				case <-c.stop:
					return
				default:
				}
				c.mu.Lock()
				until := c.until
				c.mu.Unlock()
				if !until.IsZero() && time.Now().After(until) {
					return
				}
				r := clientResult{start: time.Now()}
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					r.code = resp.StatusCode
				}
				r.end, r.err = time.Now(), err
				c.mu.Lock()
				c.results = append(c.results, r)
				c.mu.Unlock()
				// A steady stream, not a flood: saturating the test machine's
				// CPUs would measure the scheduler, not drover.
				pause := 2 * time.Millisecond
				if err != nil {
					pause = 5 * time.Millisecond // no hot loop once drover is gone
				}
				time.Sleep(pause)
			}
		}()
	}
	return c
}

func (c *clientLoops) stopAt(t time.Time) {
	c.mu.Lock()
	c.until = t
	c.mu.Unlock()
}

func (c *clientLoops) finish() []clientResult {
	close(c.stop)
	c.wg.Wait()
	return c.results
}

// termTime is when the first worker got its stop signal: the start of the
// stop phase, as the workers saw it.
func (d *drover) termTime(pids []int) time.Time {
	d.t.Helper()
	var first time.Time
	for _, pid := range pids {
		s := waitFile(d.t, filepath.Join(d.dir, "term."+strconv.Itoa(pid)), `^\d+$`, 5*time.Second)
		n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if at := time.Unix(0, n); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

const drainDelay = 2 * time.Second

// startDrainPool is two HTTP workers on a DROVER_LISTEN socket, both ready.
func startDrainPool(t *testing.T) (d *drover, appURL string, pids []int) {
	app := freeAddr(t)
	d = startHealth(t, []string{"DROVER_WORKERS=2", "DROVER_LISTEN=" + app, "DROVER_READY=notify", "HZ_READY=1",
		"DROVER_DRAIN_DELAY=" + drainDelay.String()}, workerArgs(t, "hz-worker")...)
	for pid := range d.infos(2) {
		pids = append(pids, pid)
	}
	d.waitStatus("2 ready", 5*time.Second, readyIs(2))
	return d, "http://" + app + "/", pids
}

// Under a client loop: /readyz is 503 within 100 ms of SIGTERM, /livez
// stays 200, and the app answers every request that starts before the
// stop phase (the drain delay later), then drover exits 0.
//
// What is asserted about requests: every one that started at least 50 ms
// before the first worker got SIGTERM succeeded. Requests after that are
// not expected to: a connection that the kernel queued but no worker
// accepted before the workers closed their listeners waits for a worker
// that never comes, and fails when drover exits and the socket closes.
// The 50 ms cover the accept latency of a loaded test machine.
func TestHealthDrainKeepsServing(t *testing.T) {
	d, url, pids := startDrainPool(t)
	clients := startClients(2, url)
	waitServed(t, clients, 20)

	stopPolls := make(chan struct{})
	t0 := time.Now()
	d.signal(syscall.SIGTERM)
	readyz := pollHealth(d.addr, "/readyz", stopPolls)
	livez := pollHealth(d.addr, "/livez", stopPolls)

	code := d.wait(drainDelay + 10*time.Second)
	close(stopPolls)
	results := clients.finish()
	if code != 0 {
		t.Fatalf("drover exited %d, want 0", code)
	}
	stopPhase := d.termTime(pids)
	if el := stopPhase.Sub(t0); el < drainDelay || el > drainDelay+time.Second {
		t.Errorf("workers got SIGTERM %s after drover, want the drain delay %s", el, drainDelay)
	}

	probes := <-readyz
	flip := firstAt(probes, func(p healthAnswer) bool { return p.code == http.StatusServiceUnavailable })
	switch {
	case flip.IsZero():
		t.Fatal("/readyz never answered 503")
	case flip.Sub(t0) > 100*time.Millisecond:
		t.Errorf("/readyz turned 503 %s after SIGTERM, want within 100ms", flip.Sub(t0))
	}
	for _, p := range probes {
		if p.at.After(flip) && p.at.Before(stopPhase) && p.code != http.StatusServiceUnavailable {
			t.Errorf("/readyz answered %d at %s, after it had turned 503", p.code, p.at.Sub(t0))
		}
	}
	for _, p := range <-livez {
		if p.at.Before(stopPhase) && p.code != http.StatusOK {
			t.Errorf("/livez answered %d at %s into the drain", p.code, p.at.Sub(t0))
		}
	}

	served, lastOK, failedInMargin, failedAfter := 0, time.Time{}, 0, 0
	for _, r := range results {
		switch {
		case r.start.Before(stopPhase.Add(-50*time.Millisecond)) && !r.ok():
			t.Errorf("request at %s into the drain failed: %d %v", r.start.Sub(t0), r.code, r.err)
		case !r.ok() && r.start.Before(stopPhase):
			failedInMargin++
		case !r.ok():
			failedAfter++
		case r.start.After(t0) && r.start.Before(stopPhase):
			served++
			if r.end.After(lastOK) {
				lastOK = r.end
			}
		}
	}
	if lastOK.Before(stopPhase.Add(-100 * time.Millisecond)) {
		t.Errorf("last answer %s before the stop phase: the app stopped serving early", stopPhase.Sub(lastOK))
	}
	t.Logf("/readyz answered 503 %s after SIGTERM; stop phase after %s; %d requests served during the drain, the last answer at stop phase %+v; failed: %d in the 50ms before it, %d after it",
		flip.Sub(t0), stopPhase.Sub(t0), served, lastOK.Sub(stopPhase), failedInMargin, failedAfter)
}

// "No failed request while the pod terminates", as it is realistic: the
// clients are kube-proxy-like and stop sending new requests once they have
// seen /readyz fail plus a propagation lag shorter than the drain delay.
// A slow request sent before that and still in flight when the stop phase
// begins is finished by the app (http.Server.Shutdown), not cut off.
func TestHealthDrainNoFailedRequest(t *testing.T) {
	const lag = 500 * time.Millisecond // endpoint removal; must stay below drainDelay
	d, url, pids := startDrainPool(t)
	clients := startClients(2, url)
	waitServed(t, clients, 20)

	t0 := time.Now()
	d.signal(syscall.SIGTERM)
	eventually(t, time.Second, "/readyz to turn 503 after SIGTERM", func() (int, bool) {
		code, _, _ := tryGet("http://" + d.addr + "/readyz")
		return code, code == http.StatusServiceUnavailable
	})
	flip := time.Now()
	clients.stopAt(flip.Add(lag))

	// Sent while the endpoint is still in rotation, it lasts past the end
	// of the drain: the worker answers it only after its SIGTERM.
	slow := make(chan clientResult, 1)
	go func() {
		r := clientResult{start: time.Now()}
		resp, err := (&http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{Proxy: nil}}).Get(url + "?until_stop=1")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.code = resp.StatusCode
		}
		r.end, r.err = time.Now(), err
		slow <- r
	}()

	code := d.wait(drainDelay + 10*time.Second)
	results := clients.finish()
	if code != 0 {
		t.Fatalf("drover exited %d, want 0", code)
	}
	stopPhase := d.termTime(pids)

	failed, served := 0, 0
	for _, r := range results {
		if !r.ok() {
			failed++
			t.Errorf("request at %s after SIGTERM failed: %d %v", r.start.Sub(t0), r.code, r.err)
		} else if r.start.After(t0) {
			served++
		}
	}
	var s clientResult
	select {
	case s = <-slow:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request never returned")
	}
	if !s.ok() {
		t.Errorf("the request in flight at the stop phase failed: %d %v", s.code, s.err)
	}
	if !(s.start.Before(stopPhase) && s.end.After(stopPhase)) {
		t.Errorf("the slow request ran %s..%s, the stop phase began at %s: it was not in flight",
			s.start.Sub(t0), s.end.Sub(t0), stopPhase.Sub(t0))
	}
	t.Logf("/readyz 503 after %s; clients stopped at %s; stop phase at %s; %d requests after SIGTERM, %d failed; slow request %s..%s ok=%v",
		flip.Sub(t0), flip.Add(lag).Sub(t0), stopPhase.Sub(t0), served, failed, s.start.Sub(t0), s.end.Sub(t0), s.ok())
}

// waitServed waits until the clients have had n answers, so the drain
// starts under load.
func waitServed(t *testing.T, c *clientLoops, n int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("the app to answer %d requests", n), func() (int, bool) {
		ok := c.served()
		return ok, ok >= n
	})
}

// served is how many requests have been answered so far.
func (c *clientLoops) served() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := 0
	for _, r := range c.results {
		if r.ok() {
			ok++
		}
	}
	return ok
}

func firstAt(ps []healthAnswer, match func(healthAnswer) bool) time.Time {
	for _, p := range ps {
		if match(p) {
			return p.at
		}
	}
	return time.Time{}
}

// SIGHUP under a client loop: every worker is replaced, one slot at a time,
// and no request fails, because a successor is ready before its predecessor
// gets SIGTERM and the socket is the same. (TestContainer runs the same
// through `podman kill -s HUP`.)
func TestHUPReloadUnderLoadLosesNoRequest(t *testing.T) {
	app := freeAddr(t)
	d := start(t, opts{pidns: true, env: []string{"DROVER_WORKERS=2", "DROVER_LISTEN=" + app,
		"DROVER_READY=notify", "HZ_READY=1", "HZ_DIR=" + t.TempDir()}}, workerArgs(t, "hz-worker")...)
	d.waitLog(`worker started worker=1 `, 1, 10*time.Second)
	clients := startClients(4, "http://"+app+"/")
	waitServed(t, clients, 20)
	d.signal(syscall.SIGHUP)
	d.waitLog(`reload complete`, 1, 20*time.Second)
	waitServed(t, clients, clients.served()+20)
	results := clients.finish()
	failed := 0
	for _, r := range results {
		if !r.ok() {
			failed++
			t.Errorf("request failed: %d %v", r.code, r.err)
		}
	}
	t.Logf("%d requests across the reload, %d failed", len(results), failed)
	if d.count(`worker started worker=0 `) != 2 || d.count(`worker started worker=1 `) != 2 {
		t.Errorf("want each slot started twice")
	}
	d.stop()
}
