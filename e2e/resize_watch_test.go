package e2e

// What the resize tests need besides the harness and their cpu cgroup
// (cgroup_test.go): a count of drover's readings of a file, so that "after
// two readings" is something a test waits for instead of a guess at the
// recheck period.

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// oneReader keeps drover's Go runtime from reading the quota file too:
// since Go 1.25 it reads the cgroup CPU limit again about every second to
// adjust GOMAXPROCS, and fileReads cannot tell those reads from drover's
// own readings of the budget. drover's sizing does not depend on it.
const oneReader = "GODEBUG=updatemaxprocs=0"

// fileReads counts reads of a file through inotify (IN_ACCESS works on
// cgroupfs too): each of drover's readings of the budget reads the quota
// file once. A goroutine drains the queue as events come, because the
// kernel merges an unread event into an identical one queued before it;
// count drains it once more itself, so a read that happened before a log
// line was written is always counted by a count taken after it.
type fileReads struct {
	t    *testing.T
	fd   int
	name string // with a directory watch: the file inside it
	mu   sync.Mutex
	n    int
	more chan struct{}
}

// watchReads counts reads of path; with name, path is a directory and
// reads of the file name in it count (a file replaced by rename keeps
// being watched that way).
func watchReads(t *testing.T, path, name string) *fileReads {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_ACCESS); err != nil {
		unix.Close(fd)
		t.Fatalf("inotify watch %s: %v", path, err)
	}
	stopR, stopW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &fileReads{t: t, fd: fd, name: name, more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stopR.Fd()), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if fds[1].Revents != 0 {
				return
			}
			r.count()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		stopW.Close()
		<-done
		stopR.Close()
		unix.Close(fd)
	})
	return r
}

// count is how many reads there have been so far.
func (r *fileReads) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	buf := make([]byte, 64*unix.SizeofInotifyEvent)
	for {
		n, err := unix.Read(r.fd, buf)
		if err != nil || n <= 0 {
			return r.n
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			// struct inotify_event: wd, mask, cookie, len, then the name.
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			size := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+size]), "\x00")
			if mask&unix.IN_ACCESS != 0 && name == r.name {
				r.n++
			}
			off += unix.SizeofInotifyEvent + size
		}
	}
}

// waitFor waits until there have been n reads in all.
func (r *fileReads) waitFor(n int, timeout time.Duration) {
	r.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for r.count() < n {
		select {
		case <-r.more:
		case <-deadline.C:
			r.t.Fatalf("timed out after %s waiting for reading %d of the budget (have %d)", timeout, n, r.count())
		}
	}
}
