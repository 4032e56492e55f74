package cluster

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// recheck is the chart's DROVER_CPU_RECHECK: drover's default, 10 s.
const recheck = 10 * time.Second

// slack covers what lies between a change and the test seeing it: the
// 100 ms sampling below, a /status request, drover's own reading.
const slack = 2 * time.Second

// In-place resize through the resize subresource, with the chart as
// shipped (DROVER_CPU_MILLICORES and DROVER_CPU_FILE from requests.cpu, the
// default recheck), for a pod with requests only and for one with a CPU
// limit. The pool follows within one recheck of the kubelet applying a
// larger request (two readings for a smaller one); a resize the kubelet
// has not applied (Deferred: the node is full) or cannot (Infeasible:
// more than the node has) changes the file but not the cgroup, and the
// pool stays as it is.
func TestInPlaceResize(t *testing.T) {
	c := need(t)
	// The node has 2 CPUs: a at 1000m and b at 1000m fill it.
	c.install(t, "a", "replicaCount=1", "resources.requests.cpu=1000m", "resources.requests.memory=64Mi")
	c.install(t, "b", "replicaCount=1", "resources.requests.cpu=1000m", "resources.limits.cpu=1000m", "resources.requests.memory=64Mi")
	pa := c.awaitReady(t, "a", 1, 3*time.Minute)[0]
	pb := c.awaitReady(t, "b", 1, 3*time.Minute)[0]
	a := c.watchResize(t, &pa)
	defer a.close()
	a.expect(t, "start", 1, "1024", "-1", "1000")

	// a to 2000m while b holds the other CPU: Deferred.
	a.resize(t, `{"requests":{"cpu":"2000m"}}`)
	a.awaitCondition(t, "Deferred")
	a.unchanged(t, "requests only, Deferred 1000m → 2000m", a.awaitFile(t, "2000"), 1, "1024")

	// b goes: the kubelet applies the deferred resize, and the pool grows.
	c.uninstall(t, "b")
	a.awaitPool(t, "requests only, Deferred 1000m → 2000m, applied when b left", 2, "2048", recheck)

	// More than the node has: Infeasible.
	a.resize(t, `{"requests":{"cpu":"3000m"}}`)
	a.awaitCondition(t, "Infeasible")
	a.unchanged(t, "requests only, Infeasible 2000m → 3000m", a.awaitFile(t, "3000"), 2, "2048")

	a.resize(t, `{"requests":{"cpu":"1000m"}}`)
	a.awaitPool(t, "requests only, 2000m → 1000m", 1, "1024", 2*recheck)

	a.resize(t, `{"requests":{"cpu":"2000m"}}`)
	a.awaitPool(t, "requests only, 1000m → 2000m", 2, "2048", recheck)
	a.close()
	c.uninstall(t, "a")

	// A pod with a CPU limit: the quota changes with the shares.
	c.install(t, "b", "replicaCount=1", "resources.requests.cpu=1000m", "resources.limits.cpu=1000m", "resources.requests.memory=64Mi")
	pb = c.awaitReady(t, "b", 1, 3*time.Minute)[0]
	b := c.watchResize(t, &pb)
	defer b.close()
	b.expect(t, "start", 1, "1024", "100000", "1000")
	b.resize(t, `{"requests":{"cpu":"2000m"},"limits":{"cpu":"2000m"}}`)
	b.awaitPool(t, "with a limit, 1000m → 2000m", 2, "2048", recheck)
	if q := b.last().quota; q != "200000" {
		t.Errorf("quota %s after the resize to a 2000m limit, want 200000", q)
	}
	b.resize(t, `{"requests":{"cpu":"3000m"},"limits":{"cpu":"3000m"}}`)
	b.awaitCondition(t, "Infeasible")
	b.unchanged(t, "with a limit, Infeasible 2000m → 3000m", b.awaitFile(t, "3000"), 2, "2048")
	b.resize(t, `{"requests":{"cpu":"1000m"},"limits":{"cpu":"1000m"}}`)
	b.awaitPool(t, "with a limit, 2000m → 1000m", 1, "1024", 2*recheck)
}

// sample is one look at a container being resized.
type sample struct {
	at                  time.Time
	shares, quota, file string
	desired             int
	cores               float64
	source              string
}

// resizeWatch samples a pod's cgroup, its Downward API file and drover's
// /status every 100 ms, from the host, so each step's timing is known to
// a sample.
type resizeWatch struct {
	c    *cluster
	pod  *corev1.Pod
	ct   container
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []sample
	since   time.Time // the last resize request
}

func (c *cluster) watchResize(t *testing.T, p *corev1.Pod) *resizeWatch {
	t.Helper()
	w := &resizeWatch{c: c, pod: p, ct: c.appContainer(t, p), stop: make(chan struct{}), done: make(chan struct{})}
	w.take()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				w.take()
			}
		}
	}()
	return w
}

func (w *resizeWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
	}
}

func (w *resizeWatch) take() {
	s := sample{at: time.Now(), shares: readTrim(w.ct.cgroup + "/cpu.shares"), quota: readTrim(w.ct.cgroup + "/cpu.cfs_quota_us"), file: readTrim(w.ct.file)}
	if st, err := w.c.droverStatus(w.pod.Status.PodIP, 8081); err == nil {
		s.desired, s.cores, s.source = st.Desired, st.CPU.Cores, st.CPU.Source
	} else {
		s.desired = -1
	}
	w.mu.Lock()
	w.samples = append(w.samples, s)
	w.mu.Unlock()
}

func (w *resizeWatch) last() sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples[len(w.samples)-1]
}

// first is the first sample since the last resize request for which ok
// holds.
func (w *resizeWatch) first(ok func(sample) bool) (sample, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.samples {
		if !s.at.Before(w.since) && ok(s) {
			return s, true
		}
	}
	return sample{}, false
}

func (w *resizeWatch) expect(t *testing.T, what string, workers int, shares, quota, file string) {
	t.Helper()
	s := w.last()
	if s.desired != workers || s.shares != shares || s.quota != quota || s.file != file {
		t.Fatalf("%s: %d workers, cpu.shares %s, quota %s, file %s; want %d, %s, %s, %s", what, s.desired, s.shares, s.quota, s.file, workers, shares, quota, file)
	}
	t.Logf("%s: %s, cpu budget %v from %q; cpu.shares %s, quota %s", what, workersText(s.desired), s.cores, s.source, s.shares, s.quota)
}

// resize patches the app container's resources through the resize
// subresource, as the README shows it. Timings count from the start of
// kubectl, a few hundred milliseconds before its request.
func (w *resizeWatch) resize(t *testing.T, resources string) {
	t.Helper()
	w.mu.Lock()
	w.since = time.Now()
	w.mu.Unlock()
	_, err := w.c.kubectl("patch", "pod", w.pod.Name, "--subresource", "resize", "--patch",
		fmt.Sprintf(`{"spec":{"containers":[{"name":"app","resources":%s}]}}`, resources))
	if err != nil {
		t.Fatal(err)
	}
}

// awaitCondition waits for the kubelet's PodResizePending with reason.
func (w *resizeWatch) awaitCondition(t *testing.T, reason string) {
	t.Helper()
	var msg string
	err := w.c.await(time.Minute, "PodResizePending "+reason, func() (bool, string) {
		p, err := w.c.pod(w.pod.Name)
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodResizePending && cond.Reason == reason {
				msg = cond.Message
				return true, ""
			}
		}
		return false, fmt.Sprintf("conditions %v", p.Status.Conditions)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resize %s after %v: %s", reason, time.Since(w.since).Round(time.Millisecond), msg)
}

// awaitFile waits for the Downward API file to say want, and returns the
// first sample that saw it.
func (w *resizeWatch) awaitFile(t *testing.T, want string) sample {
	t.Helper()
	var seen sample
	err := w.c.await(time.Minute, "the Downward API file says "+want, func() (bool, string) {
		var ok bool
		seen, ok = w.first(func(s sample) bool { return s.file == want })
		return ok, w.last().file
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

// unchanged checks that the pool and the cgroup stay as they are through
// two of drover's readings after the file changed. drover has no counter
// of its readings, and the kubelet reads the file itself too, so the wait
// is two recheck periods rather than an event.
func (w *resizeWatch) unchanged(t *testing.T, what string, file sample, workers int, shares string) {
	t.Helper()
	time.Sleep(time.Until(file.at.Add(2*recheck + slack)))
	if s, moved := w.first(func(s sample) bool { return s.at.After(file.at) && (s.desired != workers || s.shares != shares) }); moved {
		t.Errorf("%s: %d workers, cpu.shares %s at %v; want %d and %s throughout (file %s, source %q)",
			what, s.desired, s.shares, s.at.Sub(w.since).Round(time.Millisecond), workers, shares, s.file, s.source)
		return
	}
	s := w.last()
	t.Logf("%s: file %s at %v, cpu.shares still %s and %s %v later (budget %v from %q)",
		what, s.file, file.at.Sub(w.since).Round(time.Millisecond), s.shares, workersText(s.desired), s.at.Sub(file.at).Round(time.Millisecond), s.cores, s.source)
}

// awaitPool waits for the pool to reach workers and checks it followed
// within bound of the kubelet applying the resize (the later of the file
// and the cgroup changing).
func (w *resizeWatch) awaitPool(t *testing.T, what string, workers int, shares string, bound time.Duration) {
	t.Helper()
	err := w.c.await(bound+recheck+time.Minute, what+": the pool follows", func() (bool, string) {
		_, ok := w.first(func(s sample) bool { return s.desired == workers })
		l := w.last()
		return ok, fmt.Sprintf("%d workers, cpu.shares %s, file %s, source %q", l.desired, l.shares, l.file, l.source)
	})
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := w.first(func(s sample) bool { return s.desired == workers })
	cg, okc := w.first(func(s sample) bool { return s.shares == shares })
	file, okf := w.first(func(s sample) bool { return s.file == pool.file })
	if !okc {
		t.Fatalf("%s: the pool has %d workers, but cpu.shares never became %s", what, workers, shares)
	}
	applied := cg.at
	if okf && file.at.After(applied) {
		applied = file.at
	}
	since := func(s sample) string { return s.at.Sub(w.since).Round(time.Millisecond).String() }
	t.Logf("resize %s: file %s at %s, cgroup (cpu.shares %s, quota %s) at %s, pool at %s at %s: %v after the kubelet applied it (recheck %v); budget %v from %q",
		what, file.file, since(file), cg.shares, cg.quota, since(cg), workersText(workers), since(pool), pool.at.Sub(applied).Round(time.Millisecond), recheck, pool.cores, pool.source)
	if late := pool.at.Sub(applied); late > bound+slack {
		t.Errorf("%s: the pool followed %v after the kubelet applied the resize, want within %v", what, late.Round(time.Millisecond), bound)
	}
	if strings.Contains(pool.source, "not granted") {
		t.Errorf("%s: the budget %q is not the granted request", what, pool.source)
	}
}

func workersText(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}
