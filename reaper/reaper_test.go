package reaper

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// 10,000 short-lived children started from several goroutines at once: every
// exit status arrives, with the right code, and never before its pid was
// recorded by the code that started it (the fork lock's promise).
func TestNoExitStatusLost(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	r := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	want := map[int]int{}
	got := map[int]int{}
	var early []int
	all := make(chan struct{})
	go func() {
		_ = r.Run(ctx, func(e Exit) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := want[e.Pid]; !ok {
				early = append(early, e.Pid)
			}
			got[e.Pid] = exitCode(e.Status)
			if len(got) == n {
				close(all)
			}
		})
	}()

	var wg sync.WaitGroup
	const starters = 8
	errs := make(chan error, starters)
	for g := 0; g < starters; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += starters {
				code := i % 256
				cmd := exec.Command("/bin/sh", "-c", "exit "+strconv.Itoa(code))
				lock := r.ForkLock()
				lock.Lock()
				err := cmd.Start()
				if err == nil {
					mu.Lock()
					want[cmd.Process.Pid] = code
					mu.Unlock()
				}
				lock.Unlock()
				if err != nil {
					errs <- err
					return
				}
				_ = cmd.Process.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(3 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("only %d of %d exit statuses arrived", len(got), n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Errorf("%d pids reaped before they were recorded, e.g. %d", len(early), early[0])
	}
	for pid, code := range want {
		if got[pid] != code {
			t.Errorf("pid %d: status %d, want %d", pid, got[pid], code)
		}
	}
}

// exitCode is the shell's number for a status: the code, or 128+signal.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func TestSubreaper(t *testing.T) {
	if os.Getpid() == 1 {
		t.Skip("PID 1 needs no subreaper")
	}
	if err := Subreaper(); err != nil {
		t.Fatal(err)
	}
}
