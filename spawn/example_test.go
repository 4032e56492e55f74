package spawn_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/drover-init/drover/reaper"
	"github.com/drover-init/drover/spawn"
)

// forkExec is a Starter: how one worker is started. Each worker leads its
// own process group, so a stop reaches everything it forked.
type forkExec struct {
	lock sync.Locker // the reaper's: held from fork until the pool knows the pid
	args []string
}

func (f forkExec) Start(env []string, files []*os.File) (spawn.Process, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	pid, err := syscall.ForkExec(f.args[0], f.args, &syscall.ProcAttr{
		Env: env, Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true},
	})
	return spawn.Process{Pid: pid}, err
}

// The pool decides when and why workers start, restart and stop; a Starter
// says how, and exits come from the process's one waiter, the reaper. This
// is drover's main in small: two workers, one killed and restarted, then a
// graceful stop.
func Example() {
	rp := reaper.New()
	pool, err := spawn.New(spawn.Config{
		Workers: 2, Restart: spawn.Always, StopSignal: syscall.SIGTERM, StopTimeout: 5 * time.Second,
		StartupTimeout: time.Minute, BackoffMax: time.Second,
		Starter: forkExec{rp.ForkLock(), []string{"/bin/sleep", "60"}},
		Log:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	reaping, stop := context.WithCancel(context.Background())
	defer stop()
	go rp.Run(reaping, func(e reaper.Exit) {
		pool.Exited(spawn.Exit{Pid: e.Pid, Status: syscall.WaitStatus(e.Status)})
	})
	done := make(chan spawn.Result, 1)
	go func() { done <- pool.Run() }()

	// The state is asked for, as /readyz does; there is no event to wait on.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ready := func() spawn.State {
		for ctx.Err() == nil {
			if st, err := pool.Snapshot(ctx); err == nil && st.Ready == 2 {
				return st
			}
			time.Sleep(10 * time.Millisecond)
		}
		return spawn.State{}
	}
	st := ready()
	if len(st.Workers) == 0 {
		fmt.Println("not ready in time")
		return
	}
	syscall.Kill(st.Workers[0].Pid, syscall.SIGKILL)
	for ctx.Err() == nil {
		if st, err := pool.Snapshot(ctx); err == nil && st.Restarts["exit"] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ready again:", ready().Ready)
	pool.Shutdown(0)
	fmt.Println("exit code:", (<-done).Code)
	// Output:
	// ready again: 2
	// exit code: 0
}
