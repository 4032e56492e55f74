// Package bench holds drover's speed and memory goals as benchmarks, not as
// timed tests: run them with
//
//	go test -run='^$' -bench=. -benchtime=200x ./bench/
//
// and compare runs with benchstat.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-init/drover/internal/launch"
	"github.com/drover-init/drover/internal/reaper"
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
// through drover's exec shim, as every worker with DROVER_LISTEN does.
func BenchmarkWorkerStart(b *testing.B) {
	b.Run("direct", func(b *testing.B) { startAndReap(b, "") })
	b.Run("shim", func(b *testing.B) { startAndReap(b, "shim") })
}

var build struct {
	once sync.Once
	path string
	err  error
}

func droverBinary(b *testing.B) string {
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "drover-bench-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "drover")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", build.path, "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("%v: %s", err, out)
		}
	})
	if build.err != nil {
		b.Fatal(build.err)
	}
	return build.path
}

// runDrover starts the real binary and returns it with its log lines.
func runDrover(b *testing.B, env []string, args ...string) (*exec.Cmd, <-chan string) {
	cmd := exec.Command(droverBinary(b), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "DROVER_HEALTH_ADDR=off"}, env...)
	r, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		// Always drained, so drover never blocks on a full pipe.
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd, lines
}

func waitLine(b *testing.B, lines <-chan string, substr string, n int) {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for n > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				b.Fatal("drover exited while waiting for " + substr)
			}
			if strings.Contains(l, substr) {
				n--
			}
		case <-deadline.C:
			b.Fatal("timed out waiting for " + substr)
		}
	}
}

// BenchmarkPoolStart: from exec of drover to N workers started.
func BenchmarkPoolStart(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				_, sc := runDrover(b, []string{"DROVER_WORKERS=" + strconv.Itoa(n)}, "sleep", "1000")
				waitLine(b, sc, "worker started", n)
			}
		})
	}
}

// BenchmarkDroverRSS reports drover's own resident memory with 8 workers,
// health server and metrics on: the cost of drover in every container.
func BenchmarkDroverRSS(b *testing.B) {
	var rss int64
	for i := 0; i < b.N; i++ {
		cmd, sc := runDrover(b, []string{"DROVER_WORKERS=8", "DROVER_HEALTH_ADDR=127.0.0.1:0"}, "sleep", "1000")
		waitLine(b, sc, "worker started", 8)
		rss = vmRSS(b, cmd.Process.Pid)
	}
	b.ReportMetric(float64(rss)/(1<<20), "MiB-rss")
}

// BenchmarkReload: SIGHUP to "reload complete" for 4 workers.
func BenchmarkReload(b *testing.B) {
	cmd, sc := runDrover(b, []string{"DROVER_WORKERS=4"}, "sleep", "1000")
	waitLine(b, sc, "worker started", 4)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd.Process.Signal(syscall.SIGHUP)
		waitLine(b, sc, "reload complete", 1)
	}
}

func vmRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
