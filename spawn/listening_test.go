package spawn

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeProbe answers for pids the test has said listen (or are shells).
type fakeProbe struct {
	mu        sync.Mutex
	listening map[int]bool
	shell     map[int]bool
	err       error
	calls     map[int][]time.Time
	explained []int
	env       *fakeEnv
}

func newFakeProbe() *fakeProbe {
	return &fakeProbe{listening: map[int]bool{}, shell: map[int]bool{}, calls: map[int][]time.Time{}}
}

func (f *fakeProbe) Listening(pid, slot int) (Listen, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.env != nil {
		f.calls[pid] = append(f.calls[pid], f.env.now())
	}
	if f.err != nil {
		return Listen{}, f.err
	}
	return Listen{Listening: f.listening[pid], How: "epoll", Shell: f.shell[pid]}, nil
}

func (f *fakeProbe) Explain(pid, slot int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.explained = append(f.explained, pid)
	return []string{"pid 42 listens on 127.0.0.1:8000 with a socket of its own"}
}

func (f *fakeProbe) Sockets(slot int) string { return "tcp://[::]:8080 (fd 3)" }

func (f *fakeProbe) listen(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listening[pid] = true
}

func (f *fakeProbe) probes(pid int) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls[pid]...)
}

func listeningHarness(t *testing.T, cfg Config) (*harness, *fakeProbe) {
	t.Helper()
	fp := newFakeProbe()
	cfg.ReadyListening, cfg.Probe = true, fp
	// The probe notes times from the harness's clock, made in newHarness.
	env := newFakeEnv()
	fp.env = env
	h := newHarnessEnv(t, cfg, env)
	return h, fp
}

// A starting worker is probed soon after exec, less and less often, until
// it listens; then it is ready and never probed again.
func TestListeningReady(t *testing.T) {
	h, fp := listeningHarness(t, Config{Workers: 1, StartupTimeout: time.Minute})
	pid := h.only()
	start := h.env.now()
	h.advance(time.Millisecond)
	if n := len(fp.probes(pid)); n != 0 {
		t.Fatalf("%d probes within 1ms", n)
	}
	h.advance(time.Second)
	probes := fp.probes(pid)
	if len(probes) < 15 || len(probes) > 30 {
		t.Fatalf("%d probes in the first second, want 15 to 30", len(probes))
	}
	if probes[0] != start.Add(firstProbe) {
		t.Errorf("first probe at +%v", probes[0].Sub(start))
	}
	for i := 1; i < len(probes); i++ {
		gap := probes[i].Sub(probes[i-1])
		if gap > maxProbe || (i > 1 && gap < probes[i-1].Sub(probes[i-2])) {
			t.Fatalf("probe gaps not growing up to %v: %v after %v", maxProbe, gap, probes[i-1].Sub(probes[i-2]))
		}
	}
	if s := h.snap(); s.Ready != 0 || s.Workers[0].State != "starting" {
		t.Fatalf("ready without listening: %+v", s.Workers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	held, err := ask(ctx, h.p, func() int { return len(h.p.st.pids[pid].timers) })
	if err != nil || held != 1 {
		t.Errorf("after %d probes the worker holds %d timers (%v), want 1: its startup timeout", len(probes), held, err)
	}
	fp.listen(pid)
	h.advance(maxProbe)
	if s := h.snap(); s.Ready != 1 || s.Workers[0].State != "ready" {
		t.Fatalf("not ready %v after it listened: %+v", maxProbe, s.Workers)
	}
	if !strings.Contains(h.logs.String(), "worker listens") {
		t.Error("no debug line for the worker listening")
	}
	n := len(fp.probes(pid))
	h.advance(time.Hour)
	if got := len(fp.probes(pid)); got != n {
		t.Errorf("a ready worker was probed %d more times", got-n)
	}
	if h.env.pending() != 0 {
		t.Errorf("%d timers left for a ready worker (the startup timeout must stop)", h.env.pending())
	}
}

// READY=1 also makes a worker ready in listening mode; so does a failing
// probe (with one warning), so that no access to /proc is no outage.
func TestListeningOtherWays(t *testing.T) {
	t.Run("READY=1", func(t *testing.T) {
		h, _ := listeningHarness(t, Config{Workers: 1, StartupTimeout: time.Minute})
		h.p.Notify(h.only(), map[string]string{"READY": "1"})
		h.sync()
		if s := h.snap(); s.Ready != 1 {
			t.Fatalf("READY=1 in listening mode: %+v", s.Workers)
		}
	})
	t.Run("probe error", func(t *testing.T) {
		h, fp := listeningHarness(t, Config{Workers: 2, StartupTimeout: time.Minute})
		fp.err = errors.New("permission denied")
		h.advance(firstProbe)
		if s := h.snap(); s.Ready != 2 {
			t.Fatalf("a failing probe: %+v", s.Workers)
		}
		if n := h.logs.count("cannot tell whether workers listen"); n != 1 {
			t.Errorf("%d warnings, want 1:\n%s", n, h.logs)
		}
	})
	t.Run("ready delay", func(t *testing.T) {
		h, fp := listeningHarness(t, Config{Workers: 1, ReadyDelay: time.Second, StartupTimeout: time.Minute})
		pid := h.only()
		fp.listen(pid)
		h.advance(firstProbe)
		if s := h.snap(); s.Ready != 0 {
			t.Fatalf("ready before DROVER_READY_DELAY: %+v", s.Workers)
		}
		h.advance(time.Second)
		if s := h.snap(); s.Ready != 1 {
			t.Fatalf("not ready DROVER_READY_DELAY after listening: %+v", s.Workers)
		}
	})
	t.Run("notify wins", func(t *testing.T) {
		h, fp := listeningHarness(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: time.Minute})
		pid := h.only()
		fp.listen(pid)
		h.advance(time.Second)
		if s := h.snap(); s.Ready != 0 || len(fp.probes(pid)) != 0 {
			t.Fatalf("DROVER_READY=notify went by the probe: %+v", s.Workers)
		}
	})
}

// A reload replaces a slot only once its replacement listens.
func TestListeningReload(t *testing.T) {
	h, fp := listeningHarness(t, Config{Workers: 2, StartupTimeout: time.Minute})
	old := h.live()
	for _, pid := range old {
		fp.listen(pid)
	}
	h.advance(firstProbe)
	h.p.Reload()
	h.sync()
	h.advance(5 * time.Second)
	if k := h.killsOf(old[0]); len(k) != 0 {
		t.Fatalf("old worker stopped before its replacement listened: %v", k)
	}
	next := h.live()[2]
	fp.listen(next)
	h.advance(maxProbe)
	if k := h.killsOf(old[0]); len(k) != 1 {
		t.Fatalf("old worker of slot 0 got %v once the replacement listened", k)
	}
	h.obey()
	if s := h.snap(); s.Ready != 2 {
		t.Fatalf("ready %d during the reload", s.Ready)
	}
}

// Every mode stops a worker whose readiness does not come, and says what
// it waited for.
func TestStartupTimeoutMessages(t *testing.T) {
	t.Run("listening", func(t *testing.T) {
		h, fp := listeningHarness(t, Config{Workers: 1, StartupTimeout: time.Second})
		pid := h.only()
		h.advance(time.Second)
		if k := h.killsOf(pid); len(k) != 1 || k[0] != syscall.SIGTERM {
			t.Fatalf("kills %v, want the stop signal", k)
		}
		want := `msg="worker did not start listening on tcp://[::]:8080 (fd 3) within 1s; is it using fd 3 / LISTEN_FDS? see docs/languages.md; stopping it" worker=0 pid=` + itoa(pid)
		if !strings.Contains(h.logs.String(), want) || !strings.Contains(h.logs.String(), `found="pid 42 listens on 127.0.0.1:8000 with a socket of its own"`) {
			t.Errorf("log lacks %q and what was found:\n%s", want, h.logs)
		}
		if len(fp.explained) != 1 {
			t.Errorf("explained %v", fp.explained)
		}
		h.obey()
		if s := h.snap(); s.Restarts[reasonStartup] != 1 {
			t.Fatalf("restarts %v", s.Restarts)
		}
	})
	t.Run("notify", func(t *testing.T) {
		h := newHarness(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: time.Second})
		h.advance(time.Second)
		if !strings.Contains(h.logs.String(), "worker sent no READY=1 on NOTIFY_SOCKET within 1s (DROVER_READY=notify: does the server send sd_notify?); stopping it") {
			t.Errorf("log:\n%s", h.logs)
		}
	})
	t.Run("started, never exec'd", func(t *testing.T) {
		h := newHarness(t, Config{Workers: 1, StartupTimeout: time.Second, Starter: &fakeStarter{gated: true}})
		pid := h.only()
		h.advance(time.Second)
		if k := h.killsOf(pid); len(k) != 1 || !strings.Contains(h.logs.String(), "worker did not start its program within 1s; stopping it") {
			t.Errorf("kills %v, log:\n%s", k, h.logs)
		}
	})
	t.Run("started, exec'd", func(t *testing.T) {
		h := newHarness(t, Config{Workers: 1, StartupTimeout: time.Second})
		pid := h.only()
		h.advance(time.Hour)
		if k := h.killsOf(pid); len(k) != 0 || h.env.pending() != 0 {
			t.Errorf("kills %v, %d timers", k, h.env.pending())
		}
	})
}

// A worker that ends in its first second without ever listening gets one
// hint per cause, however often it restarts.
func TestQuickExitHint(t *testing.T) {
	const portHint = "worker exited within 1s of starting, before it listened on tcp://[::]:8080 (fd 3); if it bound the port itself (address already in use)"
	const shellHint = "worker exited within 1s of starting; it is a shell that did not exec the server"
	t.Run("port", func(t *testing.T) {
		h, _ := listeningHarness(t, Config{Workers: 1, StartupTimeout: time.Minute, CrashLimit: 0})
		for i := 0; i < 5; i++ {
			h.advance(300 * time.Millisecond)
			h.exit(h.only(), 1)
			h.advance(10 * time.Second) // backoff
		}
		if n := h.logs.count(portHint); n != 1 {
			t.Errorf("%d port hints, want 1:\n%s", n, h.logs)
		}
		if n := h.logs.count(shellHint); n != 0 {
			t.Errorf("%d shell hints", n)
		}
	})
	t.Run("shell", func(t *testing.T) {
		h, fp := listeningHarness(t, Config{Workers: 1, StartupTimeout: time.Minute})
		pid := h.only()
		fp.mu.Lock()
		fp.shell[pid] = true
		fp.mu.Unlock()
		h.advance(100 * time.Millisecond)
		h.exit(pid, 3)
		if n := h.logs.count(shellHint); n != 1 || h.logs.count(portHint) != 0 {
			t.Errorf("want the shell hint alone:\n%s", h.logs)
		}
	})
	t.Run("not for", func(t *testing.T) {
		h, fp := listeningHarness(t, Config{Workers: 3, StartupTimeout: time.Minute})
		pids := h.live()
		fp.listen(pids[0])
		h.advance(firstProbe)
		h.exit(pids[0], 1) // it listened: something else is wrong
		h.advance(time.Second)
		h.exit(pids[1], 1) // after its first second
		h.p.Scale(-1)      // asked to stop
		h.obey()
		if strings.Contains(h.logs.String(), "exited within 1s") {
			t.Errorf("a hint for a worker that listened, lived 1s or was stopped:\n%s", h.logs)
		}
	})
	t.Run("started mode", func(t *testing.T) {
		h := newHarness(t, Config{Workers: 1, Probe: newFakeProbe()})
		h.exit(h.only(), 0) // Express hides EADDRINUSE and exits 0
		if n := h.logs.count(portHint); n != 1 {
			t.Errorf("%d port hints in started mode:\n%s", n, h.logs)
		}
	})
	t.Run("no sockets", func(t *testing.T) {
		h := newHarness(t, Config{Workers: 1})
		h.exit(h.only(), 1)
		if strings.Contains(h.logs.String(), "exited within 1s") {
			t.Errorf("a hint without DROVER_LISTEN:\n%s", h.logs)
		}
	})
}

// A crash-looping slot never counts as ready, even where ready means only
// exec'd; a worker that stays up MinUptime does.
func TestCrashLoopNotReady(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, CrashLimit: 0})
	if s := h.snap(); s.Ready != 0 || s.Workers[0].State != "ready" {
		t.Fatalf("started mode: counted before it has run 1s: %+v", s)
	}
	h.advance(time.Second)
	if s := h.snap(); s.Ready != 1 {
		t.Fatalf("started mode: not counted after 1s: ready %d", s.Ready)
	}
	for i := 0; i < 6; i++ {
		h.advance(500 * time.Millisecond)
		h.exit(h.only(), 1)
		for len(h.live()) == 0 { // the backoff
			if s := h.snap(); s.Ready != 0 {
				t.Fatalf("ready %d after a crash", s.Ready)
			}
			h.advance(10 * time.Millisecond)
		}
		// A new worker, exec'd at once: ready, but not counted yet.
		if s := h.snap(); s.Ready != 0 || s.Workers[0].State != "ready" {
			t.Fatalf("crash loop: ready %d, %+v", s.Ready, s.Workers)
		}
	}
	h.advance(time.Second)
	if s := h.snap(); s.Ready != 1 {
		t.Fatalf("a worker up for 1s after the crashes: ready %d", s.Ready)
	}
}

// In started mode a READY=1, an explicit delay or a promotion in a reload
// count at once; a crash loop in listening mode never counts.
func TestCountsTowardsReady(t *testing.T) {
	t.Run("READY=1", func(t *testing.T) {
		h := newHarness(t, Config{Workers: 1})
		h.p.Notify(h.only(), map[string]string{"READY": "1"})
		h.sync()
		if s := h.snap(); s.Ready != 1 {
			t.Fatalf("ready %d", s.Ready)
		}
	})
	t.Run("reload", func(t *testing.T) {
		h := newHarness(t, Config{Workers: 2})
		h.advance(time.Second)
		h.p.Reload()
		h.sync()
		h.obey()
		h.sync()
		if s := h.snap(); s.Ready != 2 {
			t.Fatalf("ready %d right after a started-mode reload", s.Ready)
		}
	})
	t.Run("listening crash loop", func(t *testing.T) {
		h, fp := listeningHarness(t, Config{Workers: 1, StartupTimeout: time.Minute})
		for i := 0; i < 3; i++ {
			pid := h.only()
			fp.listen(pid)
			h.advance(firstProbe)
			if s := h.snap(); s.Ready != 1-min(i, 1) {
				t.Fatalf("round %d: ready %d", i, s.Ready)
			}
			h.advance(100 * time.Millisecond)
			h.exit(pid, 1)
			for len(h.live()) == 0 {
				h.advance(10 * time.Millisecond)
			}
		}
	})
}
