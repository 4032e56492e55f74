package spawn

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-init/drover/internal/launch"
)

// Exec adapts launch.Exec for these real-process tests (test-only import).
type Exec launch.Exec

func (x *Exec) Start(env []string, files []*os.File) (Process, error) {
	p, err := (*launch.Exec)(x).Start(env, files)
	return Process{Pid: p.Pid, Execd: p.Execd}, err
}

func TestMain(m *testing.M) {
	if launch.IsShim(os.Environ()) {
		os.Exit(launch.Shim(os.Args, os.Environ(), os.Stderr))
	}
	if err := launch.SealFDs(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// reapInto is a minimal stand-in for drover's reaper (which this package
// must not import): it feeds every exit of the test's children to the pool.
func reapInto(t *testing.T, p *Pool, lock *sync.RWMutex) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			var ws syscall.WaitStatus
			lock.Lock()
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			lock.Unlock()
			if err == nil && pid > 0 {
				p.Exited(Exit{Pid: pid, Status: ws})
				continue
			}
			time.Sleep(2 * time.Millisecond) // a test stand-in; the real reaper waits for SIGCHLD
		}
	}()
}

type gated struct {
	Starter
	gate chan struct{}
}

// Start reports exec'd only once the test opens the gate.
func (g gated) Start(env []string, files []*os.File) (Process, error) {
	proc, err := g.Starter.Start(env, files)
	if err != nil {
		return proc, err
	}
	real, execd := proc.Execd, make(chan struct{})
	go func() {
		<-real
		<-g.gate
		close(execd)
	}()
	proc.Execd = execd
	return proc, nil
}

func newPool(t *testing.T, cfg Config, argv ...string) (*Pool, chan Result) {
	t.Helper()
	lock := &sync.RWMutex{}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Starter == nil {
		cfg.Starter = &Exec{Path: path, Args: argv, Lock: lock.RLocker(), Stderr: os.Stderr}
	}
	if g, ok := cfg.Starter.(gated); ok && g.Starter == nil {
		g.Starter = &Exec{Path: path, Args: argv, Lock: lock.RLocker(), Stderr: os.Stderr}
		cfg.Starter = g
	}
	cfg.Env = append(cfg.Env, "PATH="+os.Getenv("PATH"))
	cfg.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reapInto(t, p, lock)
	res := make(chan Result, 1)
	go func() { res <- p.Run() }()
	t.Cleanup(func() {
		p.Shutdown(0)
		select {
		case <-res:
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Error("pool did not stop")
		}
	})
	return p, res
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func waitResult(t *testing.T, res chan Result) Result {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("pool did not finish")
		return Result{}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling files and state: no event to wait on
	}
}

func snap(t *testing.T, p *Pool) State {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const trapUSR1 = `trap 'echo USR1 >> $REC/got' USR1; echo ready > $REC/ready; while :; do sleep 1000 & wait $!; done`

// A signal forwarded while the worker is still in the exec shim is not lost:
// it is delivered once the user's program runs.
func TestSignalBeforeExecIsDelivered(t *testing.T) {
	rec := t.TempDir()
	gate := make(chan struct{})
	p, _ := newPool(t, Config{Workers: 1, Env: []string{"REC=" + rec}, Starter: gated{gate: gate}},
		"sh", "-c", trapUSR1)
	waitFor(t, "the worker to be ready", func() bool { _, err := os.Stat(filepath.Join(rec, "ready")); return err == nil })
	p.Signal(syscall.SIGUSR1)
	// The pool holds the signal: the worker has not exec'd as far as it knows.
	if s := snap(t, p); s.Signals["SIGUSR1"] != 1 {
		t.Fatalf("forwarded count %v", s.Signals)
	}
	if _, err := os.Stat(filepath.Join(rec, "got")); err == nil {
		t.Fatal("signal delivered before exec")
	}
	close(gate)
	waitFor(t, "USR1 to arrive", func() bool { _, err := os.Stat(filepath.Join(rec, "got")); return err == nil })
}

// The exec shim sets the pid variables to the worker's own pid.
func TestShimSetsPidVars(t *testing.T) {
	rec := t.TempDir()
	lock := &sync.RWMutex{}
	self, _ := os.Executable()
	sh, _ := exec.LookPath("sh")
	p, _ := newPool(t, Config{Workers: 1, Restart: Never, Env: []string{"REC=" + rec},
		Starter: &Exec{Path: sh, Args: []string{"sh", "-c", `echo "$$ $LISTEN_PID" > $REC/pids; ls -l /proc/self/fd >> $REC/fdlist; ls /proc/self/fd | wc -l >> $REC/pids`},
			Shim: self, PidVars: []string{"LISTEN_PID"}, Lock: lock.RLocker()}}, "sh")
	_ = p
	waitFor(t, "the worker", func() bool {
		b, _ := os.ReadFile(filepath.Join(rec, "pids"))
		return strings.Count(string(b), "\n") == 2
	})
	b, _ := os.ReadFile(filepath.Join(rec, "pids"))
	f := strings.Fields(string(b))
	if f[0] != f[1] {
		t.Errorf("LISTEN_PID=%s, worker pid %s", f[1], f[0])
	}
	// 0, 1, 2 and the one ls opens for /proc/self/fd: nothing leaked.
	if f[2] != "4" {
		t.Errorf("worker has %s fds open, want 4 (stdio + ls's own)", f[2])
		b, _ := os.ReadFile(filepath.Join(rec, "fdlist"))
		t.Log(string(b))
	}
}

// A replacement that fails before it is ready aborts the reload; the old
// worker keeps serving.
func TestReloadAbortKeepsOldWorker(t *testing.T) {
	rec := t.TempDir()
	script := `if [ -e $REC/broken ]; then exit 1; fi; trap 'echo TERM >> $REC/$$; exit 0' TERM; echo start > $REC/$$; while :; do sleep 1000 & wait $!; done`
	p, _ := newPool(t, Config{Workers: 1, Env: []string{"REC=" + rec}, ReadyDelay: 200 * time.Millisecond, StartupTimeout: 5 * time.Second},
		"sh", "-c", script)
	waitFor(t, "ready", func() bool { return snap(t, p).Ready == 1 })
	old := snap(t, p).Workers[0].Pid
	os.WriteFile(filepath.Join(rec, "broken"), nil, 0o644)
	p.Reload()
	waitFor(t, "the replacement to fail", func() bool { return snap(t, p).Workers[0].LastExit == "exit 1" })
	s := snap(t, p)
	if len(s.Workers) != 1 || s.Workers[0].Pid != old || !s.Workers[0].Ready {
		t.Fatalf("after a failed reload: %+v, want the old worker %d still ready", s.Workers, old)
	}
	os.Remove(filepath.Join(rec, "broken"))
	p.Reload()
	waitFor(t, "the reload", func() bool { s := snap(t, p); return s.Ready == 1 && s.Workers[0].Pid != old })
	if s := snap(t, p); s.Restarts["reload"] != 1 {
		t.Errorf("restarts %v, want reload:1", s.Restarts)
	}
}

// on-failure: a clean exit ends the slot; the pool finishes with 0 once all
// slots are done.
func TestOnFailureStopsAfterSuccess(t *testing.T) {
	_, res := newPool(t, Config{Workers: 2, Restart: OnFailure}, "sh", "-c", "exit 0")
	if r := waitResult(t, res); r.Code != 0 {
		t.Fatalf("result %+v", r)
	}
}

// never: drover's result is the last worker's status.
func TestNeverResultIsLastStatus(t *testing.T) {
	_, res := newPool(t, Config{Workers: 1, Restart: Never}, "sh", "-c", "exit 42")
	if r := waitResult(t, res); r.Code != 42 {
		t.Fatalf("result %+v, want 42", r)
	}
}

// A worker never ready in notify mode is stopped after the startup timeout
// and counts as a failed start.
func TestStartupTimeout(t *testing.T) {
	_, res := newPool(t, Config{Workers: 1, ReadyNotify: true, StartupTimeout: 200 * time.Millisecond, CrashLimit: 2},
		"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1000 & wait $!; done")
	r := waitResult(t, res)
	if r.Reason != "crash limit reached" {
		t.Fatalf("result %+v", r)
	}
}

// Kill falls back to the worker alone when it left its process group.
func TestKillFallsBackToPid(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("sleep ended with %v", err)
	}
}

// A program that vanished after drover checked it: the shim exits like a
// shell would, 127 for missing, 126 for not executable.
func TestShimExitsLikeAShell(t *testing.T) {
	self, _ := os.Executable()
	notExec := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	for path, want := range map[string]int{"/nonexistent/prog": 127, notExec: 126, "/etc/passwd/x": 127} {
		// A subtest each: its cleanup ends its stand-in reaper, which would
		// otherwise steal the next pool's exits.
		t.Run(path, func(t *testing.T) {
			lock := &sync.RWMutex{}
			_, res := newPool(t, Config{Workers: 1, Restart: Never,
				Starter: &Exec{Path: path, Args: []string{"prog"}, Shim: self, Lock: lock.RLocker()}}, "sh")
			if r := waitResult(t, res); r.Code != want {
				t.Errorf("result %d, want %d", r.Code, want)
			}
		})
	}
}
