package logging

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "LOGGING_TEST_HELPER"

// TestMain doubles as a helper process whose own stderr is the pipe
// under test: the os package treats fds 1 and 2 differently from others.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "sigpipe" {
		os.Exit(sigpipeHelper())
	}
	os.Exit(m.Run())
}

// sigpipeHelper logs through an Output on its real stderr and reports on
// stdout how many SIGPIPEs reached it and how many lines were dropped.
func sigpipeHelper() int {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGPIPE)
	out := New(os.Stderr, Options{})
	for range 10 {
		out.Logger().Info("to nobody")
	}
	out.Close(5 * time.Second)
	n := 0
	timeout := time.After(200 * time.Millisecond) // a signal would be delivered by now; its absence sends no event
	for {
		select {
		case <-sigs:
			n++
		case <-timeout:
			fmt.Printf("sigpipe=%d dropped=%d\n", n, out.Dropped())
			return 0
		}
	}
}

// A stderr whose reader is gone: the writes fail and count as dropped,
// and drover, which subscribes to SIGPIPE and forwards it to every
// worker, never sees one: neither the kernel's (sent to the writing
// thread) nor the one the os package raises itself for fds 1 and 2.
func TestClosedStderrRaisesNoSIGPIPE(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=sigpipe")
	cmd.Stderr = w
	got, err := cmd.Output()
	w.Close()
	if err != nil {
		t.Fatalf("helper: %v (%s)", err, got)
	}
	if s := strings.TrimSpace(string(got)); s != "sigpipe=0 dropped=10" {
		t.Errorf("helper says %q, want sigpipe=0 dropped=10", s)
	}
}

// The same for a pipe that is not stderr, in this process.
func TestClosedPipeRaisesNoSIGPIPE(t *testing.T) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGPIPE)
	defer signal.Stop(sigs)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()

	// The same write from an ordinary goroutine raises it: the test can fail.
	if _, err := w.Write([]byte("x\n")); err == nil {
		t.Fatal("write to a pipe without reader succeeded")
	}
	select {
	case <-sigs:
	case <-time.After(5 * time.Second):
		t.Fatal("no SIGPIPE from a plain write: nothing to compare with")
	}

	out := New(w, Options{})
	for range 100 {
		out.Logger().Info("to nobody")
	}
	if !out.Close(5 * time.Second) {
		t.Fatal("Close timed out on a broken pipe")
	}
	if out.Dropped() != 100 {
		t.Errorf("Dropped() = %d, want 100", out.Dropped())
	}
	select {
	case <-sigs:
		t.Error("drover's log writer raised SIGPIPE")
	case <-time.After(200 * time.Millisecond): // a signal would be delivered by now; there is no event for its absence
	}
}
