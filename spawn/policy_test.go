package spawn

import (
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRestartPolicy(t *testing.T) {
	type exit struct {
		code int
		sig  syscall.Signal
	}
	for _, tc := range []struct {
		name     string
		policy   Policy
		up       time.Duration // how long the worker was ready before it ended
		exit     exit
		restart  bool
		wantCode int // when it does not restart: the pool's result
	}{
		{"always/clean", Always, 2 * time.Second, exit{code: 0}, true, 0},
		{"always/failed", Always, 2 * time.Second, exit{code: 1}, true, 0},
		{"always/killed", Always, 0, exit{sig: syscall.SIGKILL}, true, 0},
		{"on-failure/clean", OnFailure, 2 * time.Second, exit{code: 0}, false, 0},
		{"on-failure/failed", OnFailure, 2 * time.Second, exit{code: 3}, true, 0},
		{"on-failure/killed", OnFailure, 0, exit{sig: syscall.SIGSEGV}, true, 0},
		{"never/clean", Never, 0, exit{code: 0}, false, 0},
		{"never/failed", Never, 0, exit{code: 42}, false, 42},
		{"never/killed", Never, 0, exit{sig: syscall.SIGKILL}, false, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Workers: 1, Restart: tc.policy})
			pid := h.only()
			h.advance(tc.up)
			if tc.exit.sig != 0 {
				h.die(pid, tc.exit.sig)
			} else {
				h.exit(pid, tc.exit.code)
			}
			if !tc.restart {
				if r := h.result(); r.Code != tc.wantCode {
					t.Fatalf("result %+v, want code %d", r, tc.wantCode)
				}
				return
			}
			// The first restart is immediate: no clock has to move.
			if now := h.only(); now == pid {
				t.Fatalf("worker %d not replaced", pid)
			}
			if s := h.snap(); s.Restarts[reasonExit] != 1 || s.Workers[0].Restarts != 1 {
				t.Errorf("restarts %v / %d, want exit:1", s.Restarts, s.Workers[0].Restarts)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{Always, OnFailure, Never} {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePolicy("sometimes"); err == nil {
		t.Error("ParsePolicy accepted sometimes")
	}
}

// A crash loop: the first restart is at once, then 100 ms doubling up to
// BackoffMax.
func TestBackoff(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, BackoffMax: 400 * time.Millisecond})
	pid := h.only()
	h.exit(pid, 1)
	pid2 := h.only()
	if pid2 == pid {
		t.Fatal("first failure not restarted at once")
	}
	for i, want := range []time.Duration{100, 200, 400, 400} {
		want *= time.Millisecond
		h.exit(h.only(), 1)
		if len(h.live()) != 0 {
			t.Fatalf("failure %d restarted at once", i+2)
		}
		if s := h.snap(); s.Workers[0].State != "backoff" {
			t.Fatalf("slot state %q, want backoff", s.Workers[0].State)
		}
		h.advance(want - time.Millisecond)
		if len(h.live()) != 0 {
			t.Fatalf("failure %d restarted before %v", i+2, want)
		}
		h.advance(time.Millisecond)
		if len(h.live()) != 1 {
			t.Fatalf("failure %d not restarted after %v", i+2, want)
		}
	}
}

// A worker that stayed ready for ResetAfter starts its failure count over.
func TestBackoffResets(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, ResetAfter: 10 * time.Second})
	h.exit(h.only(), 1)
	h.exit(h.only(), 1) // second in a row: backoff
	h.advance(100 * time.Millisecond)
	h.advance(10 * time.Second)
	h.exit(h.only(), 1)
	if len(h.live()) != 1 {
		t.Fatal("failure after a long healthy run was not restarted at once")
	}
}

func TestCrashLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		wantCode int
	}{
		{"failing", 3, 3},
		// Exits 0 right after start are failures too, and giving up is never 0.
		{"quick clean exits", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Workers: 2, CrashLimit: 3, StopSignal: syscall.SIGINT})
			other := h.slotPid(1)
			for i := 0; i < 3; i++ {
				h.exit(h.slotPid(0), tc.code)
				h.advance(200 * time.Millisecond)
			}
			if got := h.killsOf(other); len(got) != 1 || got[0] != syscall.SIGINT {
				t.Fatalf("the other worker got %v, want the stop signal", got)
			}
			h.obey()
			r := h.result()
			if r.Code != tc.wantCode || r.Reason != "crash limit reached" {
				t.Fatalf("result %+v, want %d", r, tc.wantCode)
			}
		})
	}
}

// restart never: the result is the first failure's, not the last worker's.
func TestNeverFirstFailure(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{[]int{0, 0, 0}, 0},
		{[]int{0, 3, 5}, 3},
		{[]int{7, 0, 0}, 7},
		{[]int{0, 0, 9}, 9},
	} {
		h := newHarness(t, Config{Workers: 3, Restart: Never})
		for i, pid := range h.live() {
			h.exit(pid, tc.codes[i])
		}
		if r := h.result(); r.Code != tc.want {
			t.Errorf("exits %v: result %+v, want %d", tc.codes, r, tc.want)
		}
	}
}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{syscall.ENOENT, 127},
		{syscall.ENOTDIR, 127},
		{syscall.EACCES, 126},
		{syscall.EINVAL, 126},
	} {
		f := &fakeStarter{}
		f.fail(tc.err)
		h := newHarness(t, Config{Workers: 1, Restart: Never, Starter: f})
		if r := h.result(); r.Code != tc.want {
			t.Errorf("%v: result %+v, want %d", tc.err, r, tc.want)
		}
	}
}

// Resource errors are retried with backoff, never count as crashes, never
// show as 126, and are logged once per streak.
func TestTransientStartErrors(t *testing.T) {
	f := &fakeStarter{}
	f.fail(syscall.EAGAIN, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EAGAIN)
	h := newHarness(t, Config{Workers: 1, CrashLimit: 2, BackoffMax: time.Second, Starter: f})
	for i, d := range []time.Duration{100, 200, 400, 800, 1000} {
		if len(h.live()) != 0 {
			t.Fatalf("attempt %d: a worker runs", i)
		}
		if n := h.env.pending(); n != 1 {
			t.Fatalf("attempt %d: %d timers pending, want 1", i, n)
		}
		h.advance(d * time.Millisecond)
	}
	if len(h.live()) != 1 {
		t.Fatal("no worker after the resources came back")
	}
	s := h.snap()
	if s.Workers[0].LastExit != "" || s.Restarts[reasonExit] != 0 {
		t.Errorf("a refused start shows as %q, restarts %v", s.Workers[0].LastExit, s.Restarts)
	}
	if n := h.logs.count("lack of resources"); n != 1 {
		t.Errorf("%d log lines about resources, want 1", n)
	}
	if h.logs.count("workers start again") != 1 || strings.Contains(h.logs.String(), "126") {
		t.Errorf("log:\n%s", h.logs)
	}
}

// With every start refused, drover's own timers stay one per slot.
func TestTransientStormIsBounded(t *testing.T) {
	f := &fakeStarter{}
	errs := make([]error, 50*20)
	for i := range errs {
		errs[i] = syscall.EAGAIN
	}
	f.fail(errs...)
	h := newHarness(t, Config{Workers: 50, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Starter: f})
	for i := 0; i < 19; i++ {
		if n := h.env.pending(); n > 50 {
			t.Fatalf("%d timers pending for 50 slots", n)
		}
		h.advance(50 * time.Millisecond)
	}
	h.advance(50 * time.Millisecond)
	if n := len(h.live()); n != 50 {
		t.Fatalf("%d workers, want 50", n)
	}
	if n := h.logs.count("lack of resources"); n != 1 {
		t.Errorf("%d log lines about resources, want 1", n)
	}
	p := h.live()
	h.p.Shutdown(0)
	h.sync()
	for _, pid := range p {
		h.exit(pid, 0)
	}
	if r := h.result(); r.Code != 0 {
		t.Fatalf("result %+v", r)
	}
}

// A shutdown while a start is pending cancels it and ends the pool.
func TestShutdownCancelsBackoff(t *testing.T) {
	h := newHarness(t, Config{Workers: 1})
	h.exit(h.only(), 1)
	h.exit(h.only(), 1)
	if h.env.pending() != 1 {
		t.Fatal("no backoff timer")
	}
	h.p.Shutdown(0)
	if r := h.result(); r.Code != 0 || h.env.pending() != 0 {
		t.Fatalf("result %+v, %d timers left", r, h.env.pending())
	}
}

func TestDrain(t *testing.T) {
	h := newHarness(t, Config{Workers: 2})
	h.advance(time.Second) // started mode: counted once up 1s
	h.p.Shutdown(5 * time.Second)
	h.sync()
	if s := h.snap(); !s.Draining || s.Ready != 2 {
		t.Fatalf("draining %v ready %d, want draining with both still serving", s.Draining, s.Ready)
	}
	h.advance(5*time.Second - time.Millisecond)
	for _, pid := range h.live() {
		if len(h.killsOf(pid)) != 0 {
			t.Fatal("stopped before the drain delay")
		}
	}
	h.advance(time.Millisecond)
	for _, pid := range h.live() {
		if k := h.killsOf(pid); len(k) != 1 || k[0] != syscall.SIGTERM {
			t.Fatalf("worker %d got %v, want SIGTERM", pid, k)
		}
	}
	h.p.Reload() // ignored while shutting down
	h.p.Scale(+1)
	h.obey()
	if r := h.result(); r.Code != 0 || r.Reason != "stopped" {
		t.Fatalf("result %+v", r)
	}
}

// A second TERM cuts the drain short.
func TestSecondShutdownStopsAtOnce(t *testing.T) {
	h := newHarness(t, Config{Workers: 1})
	h.p.Shutdown(time.Minute)
	h.p.Shutdown(time.Minute)
	h.sync()
	if k := h.killsOf(h.only()); len(k) != 1 {
		t.Fatalf("kills %v after the second shutdown", k)
	}
	h.p.Shutdown(time.Minute) // a third does nothing more
	h.obey()
	h.result()
}

func TestStopTimeoutKills(t *testing.T) {
	h := newHarness(t, Config{Workers: 1, StopTimeout: 3 * time.Second})
	pid := h.only()
	h.p.Shutdown(0)
	h.sync()
	h.advance(3 * time.Second)
	if k := h.killsOf(pid); len(k) != 2 || k[1] != syscall.SIGKILL {
		t.Fatalf("kills %v, want TERM then KILL", k)
	}
	h.die(pid, syscall.SIGKILL)
	if r := h.result(); r.Code != 137 {
		t.Fatalf("result %+v, want 137", r)
	}
}

func TestOrphansCounted(t *testing.T) {
	h := newHarness(t, Config{Workers: 1})
	h.exit(4242, 0)
	h.exit(4243, 1)
	if s := h.snap(); s.Orphans != 2 || len(s.Workers) != 1 {
		t.Fatalf("orphans %d workers %v", s.Orphans, s.Workers)
	}
}

// A TERM while the initial workers start stops the starting at once.
func TestShutdownWhileStarting(t *testing.T) {
	env := newFakeEnv()
	f := &hookStarter{}
	p, err := newPool(Config{Workers: 10, Starter: f, Log: slog.New(slog.DiscardHandler)}, env)
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	h := &harness{t: t, p: p, env: env, res: make(chan Result, 1), logs: &logBuf{}}
	go func() { h.res <- p.Run() }()
	h.boot()
	if f.n != 3 {
		t.Fatalf("%d workers started, want 3: the shutdown came during the third", f.n)
	}
	h.obey()
	if r := h.result(); r.Code != 0 || r.Reason != "stopped" {
		t.Fatalf("result %+v", r)
	}
}

// hookStarter asks for a shutdown during its third start, and has every
// stop signal end the worker at once.
type hookStarter struct {
	p *Pool
	n int
}

func (f *hookStarter) Start(env []string, files []*os.File) (Process, error) {
	f.n++
	if f.n == 3 {
		f.p.Shutdown(0)
	}
	return Process{Pid: 5000 + f.n}, nil
}
