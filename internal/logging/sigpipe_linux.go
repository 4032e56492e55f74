package logging

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// quietPipe keeps the writer's own writes from raising SIGPIPE in drover.
// drover subscribes to SIGPIPE (every catchable signal) and forwards it to
// the workers, and the kernel raises it for every write to a pipe whose
// reader is gone: a dead log shipper would make each of drover's lines
// kill every worker (SIGPIPE's default action), whose restarts log more
// lines. The kernel sends that SIGPIPE to the writing thread, so the writer
// goroutine keeps a thread of its own with SIGPIPE blocked: the signal
// stays pending there, unseen, and write(2) fails with EPIPE, which counts
// the line as dropped. The thread ends with the goroutine.
func quietPipe() {
	runtime.LockOSThread()
	var set unix.Sigset_t
	set.Val[(unix.SIGPIPE-1)/64] |= 1 << ((uint(unix.SIGPIPE) - 1) % 64)
	_ = unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil)
}
