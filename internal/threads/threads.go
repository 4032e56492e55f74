// Package threads keeps spare OS threads for the Go runtime.
//
// The runtime starts a thread whenever a goroutine blocks in a system call
// and no idle thread is left, and it cannot live without one: when the
// pids cgroup is full (a worker that forks until EAGAIN), pthread_create
// fails and the runtime aborts, taking PID 1 and the whole container down
// with it. Threads the runtime already has are never given back, so
// starting a few at once, while pids are still free, lets drover ride out
// a full cgroup on threads it owns.
package threads

import (
	"runtime"
	"sync"
)

// Reserve makes the runtime start n more threads now and park them idle,
// for later system calls to use instead of creating threads.
//
// Each helper goroutine locks itself to its thread and waits until all are
// locked, so that no two share a thread; unlocking before they return
// leaves the threads in the runtime's idle list rather than ending them.
func Reserve(n int) {
	var locked, running sync.WaitGroup
	release := make(chan struct{})
	locked.Add(n)
	running.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer running.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	running.Wait()
}
