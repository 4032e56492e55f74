package sockwait

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// asOwner runs read with the filesystem credentials of process p when
// drover's own cannot reach it.
//
// Reading another process's fd links, fdinfo, syscall and mem files is a
// ptrace access check (PTRACE_MODE_READ_FSCREDS, ATTACH for syscall and
// mem): root passes it through CAP_SYS_PTRACE, which Docker's default
// capabilities do not include, or by having the process's uid and gid as
// its filesystem uid and gid. The fs ids are per thread, so read runs on a
// locked OS thread that takes the process's ids and gives them back
// before anything else may run on it. Yama's ptrace_scope 1 allows it too:
// drover is an ancestor of every process it checks.
func (c *Checker) asOwner(d *procDir, read func() error) error {
	if !c.switchCreds {
		return read()
	}
	uid, gid, err := d.owner()
	if err != nil {
		return err
	}
	if uid == 0 && gid == 0 {
		return read()
	}
	return withFSCreds(uid, gid, read)
}

// withFSCreds runs f on a fresh goroutine locked to its OS thread, with
// that thread's fsuid and fsgid set to uid and gid. If they cannot be put
// back, the goroutine exits still locked and the runtime ends the thread,
// so no other goroutine ever runs with the worker's ids.
func withFSCreds(uid, gid uint32, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		oldGID := setfsgid(int(gid))
		oldUID := setfsuid(int(uid))
		var err error
		// setfsuid reports no error: asking with an invalid id (-1) returns
		// the current one without changing it.
		if cur := setfsuid(-1); cur != int(uid) {
			err = fmt.Errorf("cannot take filesystem uid %d (still %d): %w", uid, cur, syscall.EPERM)
		} else if cur := setfsgid(-1); cur != int(gid) {
			err = fmt.Errorf("cannot take filesystem gid %d (still %d): %w", gid, cur, syscall.EPERM)
		} else {
			err = f()
		}
		setfsuid(oldUID)
		setfsgid(oldGID)
		if setfsuid(-1) == oldUID && setfsgid(-1) == oldGID {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// hasCap says whether capability n is in drover's effective set.
func hasCap(n int) bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<uint(n)) != 0
		}
	}
	return false
}

// setfsuid and setfsgid change the calling thread only, and return the
// previous id (the current one when asked for -1).
func setfsuid(id int) int { v, _ := unix.SetfsuidRetUid(id); return v }
func setfsgid(id int) int { v, _ := unix.SetfsgidRetGid(id); return v }
