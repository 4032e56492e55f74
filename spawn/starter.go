package spawn

import "os"

// Process is a started worker. Execd is closed once the worker is running
// the user's program (nil: it already is).
type Process struct {
	Pid   int
	Execd <-chan struct{}
}

// Starter starts one worker. The pool owns when and why; a Starter owns how
// (main adapts internal/launch to it).
type Starter interface {
	Start(env []string, files []*os.File) (Process, error)
}

// StartFailure is what a Starter's error says about itself (launch's
// error does): whether the start failed for lack of a resource that may
// come back (processes, descriptors, memory), worth retrying and never a
// crash, and otherwise the shell's status for it (127 not found, 126 not
// executable). The rule lives with the code that starts processes; the
// pool only asks.
type StartFailure interface {
	Transient() bool
	ExitCode() int
}
