// Package bench holds the one measurement bench/run cannot make from
// outside: a worker start through drover's own launch package, direct and
// through the exec shim. Everything black-box (start cost, memory, idle CPU,
// reaping, HTTP, reloads) is bench/run, side by side with its peers.
//
//	go test -run='^$' -bench=WorkerStart -benchtime=200x ./bench/
package bench

import (
	"context"
	"os"
	"testing"

	"github.com/drover-init/drover/internal/launch"
	"github.com/drover-init/drover/reaper"
)

func TestMain(m *testing.M) {
	if launch.IsShim(os.Environ()) {
		os.Exit(launch.Shim(os.Args, os.Environ(), os.Stderr))
	}
	os.Exit(m.Run())
}

// startAndReap measures one worker start as the pool does it (fork, exec,
// exec'd notice) through to its exit status arriving from the reaper.
func startAndReap(b *testing.B, shim string) {
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits := make(chan int, 1024)
	go r.Run(ctx, func(e reaper.Exit) { exits <- e.Pid })
	x := &launch.Exec{Path: "/bin/true", Args: []string{"true"}, Lock: r.ForkLock()}
	if shim != "" {
		self, _ := os.Executable()
		x.Shim, x.PidVars = self, []string{"LISTEN_PID"}
	}
	if shim == "sh" {
		x.Sh = "/bin/sh"
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := x.Start(os.Environ(), nil)
		if err != nil {
			b.Fatal(err)
		}
		<-p.Execd
		for pid := range exits {
			if pid == p.Pid {
				break
			}
		}
	}
}

// BenchmarkWorkerStart/direct is a start without sockets; /shim goes
// through drover's own exec shim (images without /bin/sh), /shim-sh through
// the shell fast path, as workers with DROVER_LISTEN do where it is safe.
func BenchmarkWorkerStart(b *testing.B) {
	b.Run("direct", func(b *testing.B) { startAndReap(b, "") })
	b.Run("shim", func(b *testing.B) { startAndReap(b, "shim") })
	b.Run("shim-sh", func(b *testing.B) { startAndReap(b, "sh") })
}
