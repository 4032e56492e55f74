package reaper_test

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/drover-init/drover/reaper"
)

// Any Go program that is PID 1 (or a child subreaper) makes the reaper its
// one waiter: every child, and every orphan reparented to it, is reported
// here with its exit status, so nothing else may call wait. A child is
// started under ForkLock, so that one which dies at once is reported only
// after its pid is known.
func Example() {
	rp := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits := make(chan reaper.Exit, 16)
	go rp.Run(ctx, func(e reaper.Exit) { exits <- e })

	lock := rp.ForkLock()
	lock.Lock()
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 3"}, &syscall.ProcAttr{})
	lock.Unlock()
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		select {
		case e := <-exits:
			if e.Pid == pid {
				fmt.Println("the child exited with", e.Status.ExitStatus())
				return
			}
		case <-time.After(10 * time.Second):
			fmt.Println("no exit reported")
			return
		}
	}
	// Output: the child exited with 3
}
