package e2e

// What a worker's descriptor table holds, and which socket a reuseport
// slot keeps across restarts and releases when the pool shrinks.

import (
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fdTable parses the `ls -l /proc/PID/fd` that fds.sh recorded: fd → target.
func fdTable(t *testing.T, rec string) map[int]string {
	t.Helper()
	out := map[int]string{}
	for _, l := range strings.Split(rec, "\n") {
		link, target, ok := strings.Cut(l, " -> ")
		f := strings.Fields(link)
		if !ok || len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
			out[n] = target
		}
	}
	return out
}

// fdsArgs runs testdata/listen/fds.sh as the worker.
func fdsArgs(t *testing.T, env ...string) []string {
	t.Helper()
	script, err := os.ReadFile(testdata("listen/fds.sh"))
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]string{"env"}, env...), "sh", "-c", string(script), exe)
}

// checkOnlySockets fails unless the table is stdio plus n sockets at 3….
func checkOnlySockets(t *testing.T, who string, fds map[int]string, n int) []string {
	t.Helper()
	var socks []string
	for fd := 0; fd < 3+n; fd++ {
		target, ok := fds[fd]
		switch {
		case !ok:
			t.Errorf("%s: fd %d is not open (table %v)", who, fd, fds)
		case fd >= 3 && !strings.HasPrefix(target, "socket:["):
			t.Errorf("%s: fd %d is %q, want a socket", who, fd, target)
		case fd >= 3:
			socks = append(socks, target)
		}
	}
	for fd, target := range fds {
		if fd >= 3+n {
			t.Errorf("%s: fd %d (%s) leaked into the worker", who, fd, target)
		}
	}
	return socks
}

// Workers see stdio and their sockets, nothing else: not what drover
// itself inherited (an open file, a pipe, a socket nobody listed), not
// drover's own descriptors, not another slot's sockets.
func TestListenNoFDLeaksIntoWorkers(t *testing.T) {
	stray, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	strayFile, _ := stray.(*net.TCPListener).File()
	defer strayFile.Close()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	// Five, so some land above the fds the exec shim overwrites (3, 4 for
	// the sockets, 5 for its pipe) and would show if drover let them pass.
	extra := []*os.File{devnull, pw, strayFile, pr, devnull}

	for _, reuse := range []string{"false", "true"} {
		t.Run("reuseport="+reuse, func(t *testing.T) {
			out := t.TempDir()
			sock := filepath.Join(shortTempDir(t), "s.sock")
			p := start(t, opts{pidns: true, extra: extra, env: []string{
				"DROVER_LISTEN=127.0.0.1:0,unix://" + sock, "DROVER_WORKERS=2", "DROVER_REUSEPORT=" + reuse,
			}}, fdsArgs(t, "LISTEN_OUT="+out)...)
			recs := waitUp(t, out, 2)
			bySlot := map[string][]string{}
			for name, rec := range recs {
				bySlot[name[:1]] = checkOnlySockets(t, "worker "+name, fdTable(t, rec), 2)
			}
			t.Logf("sockets per slot: %v", bySlot)
			if len(bySlot["0"]) != 2 || len(bySlot["1"]) != 2 {
				t.FailNow()
			}
			// fd 4, the unix socket, is shared in both modes; fd 3, the TCP
			// socket, is per slot only with SO_REUSEPORT.
			if bySlot["0"][1] != bySlot["1"][1] {
				t.Errorf("the unix socket differs between slots: %v", bySlot)
			}
			if shared := bySlot["0"][0] == bySlot["1"][0]; shared != (reuse == "false") {
				t.Errorf("reuseport=%s but TCP sockets shared=%v: %v", reuse, shared, bySlot)
			}
			p.stop()
		})
	}
}

// Sockets drover inherited through LISTEN_FDS but does not list in
// DROVER_LISTEN stay out of workers too.
func TestListenUnusedInheritedSocketDoesNotLeak(t *testing.T) {
	var files []*os.File
	for i := 0; i < 2; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f, _ := l.(*net.TCPListener).File()
		defer f.Close()
		files = append(files, f)
	}
	out := t.TempDir()
	wrap := []string{"sh", "-c", `export LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=used:unused; exec "$@"`, "sh"}
	p := start(t, opts{pidns: true, env: []string{"DROVER_LISTEN=fd://used", "DROVER_WORKERS=1"}, extra: files, wrap: wrap},
		fdsArgs(t, "LISTEN_OUT="+out)...)
	for name, rec := range waitUp(t, out, 1) {
		checkOnlySockets(t, "worker "+name, fdTable(t, rec), 1)
		if !strings.Contains(rec, "\n") {
			t.Errorf("empty record %q", rec)
		}
	}
	p.stop()
}

// sockInodes are the socket:[…] targets among pid's open descriptors.
func sockInodes(pid int) map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	for _, e := range ents {
		if target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:[") {
			out[target] = true
		}
	}
	return out
}

// slotWorker is the one worker of slot among the records, other than the
// skipped pids: its pid and the socket at its fd 3.
func slotWorker(t *testing.T, recs map[string]string, slot string, skip ...string) (pid, sock string) {
	t.Helper()
	for name, rec := range recs {
		id, p, _ := strings.Cut(name, ".")
		if id != slot || slices.Contains(skip, p) {
			continue
		}
		if pid != "" {
			t.Fatalf("slot %s has workers %s and %s", slot, pid, p)
		}
		pid, sock = p, fdTable(t, rec)[3]
	}
	if pid == "" {
		t.Fatalf("no worker of slot %s among %v", slot, slices.Sorted(maps.Keys(recs)))
	}
	return pid, sock
}

// With DROVER_REUSEPORT a slot's socket outlives its worker: the restarted
// worker inherits the very same socket (and the connections queued on it);
// a removed slot's socket is closed only once its worker has stopped.
func TestListenReuseportSlotKeepsItsSocket(t *testing.T) {
	out := t.TempDir()
	hold := filepath.Join(t.TempDir(), "release")
	if err := syscall.Mkfifo(hold, 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, opts{pidns: true, env: []string{
		"DROVER_LISTEN=127.0.0.1:0", "DROVER_WORKERS=2", "DROVER_REUSEPORT=true",
	}}, fdsArgs(t, "LISTEN_OUT="+out, "HOLD_TERM="+hold)...)
	recs := waitUp(t, out, 2)
	oldPid, sock := slotWorker(t, recs, "1")
	_, sock0 := slotWorker(t, recs, "0")

	// kill -9 slot 1's worker: its replacement gets the same socket.
	n, _ := strconv.Atoi(oldPid)
	syscall.Kill(p.hostPid(n), syscall.SIGKILL)
	p.waitLog(`worker started worker=1 `, 2, 10*time.Second)
	newPid, again := slotWorker(t, waitUp(t, out, 3), "1", oldPid)
	if again != sock {
		t.Errorf("restarted slot 1 got %s, its predecessor had %s: connections queued on it were lost", again, sock)
	}

	// Shrink the pool: slot 1's worker is asked to stop and holds on; its
	// socket must stay open in drover until it has exited.
	p.signal(syscall.SIGTTOU)
	waitFile(t, filepath.Join(out, "1."+newPid), "term", 10*time.Second)
	n, _ = strconv.Atoi(newPid)
	host := p.hostPid(n)
	if !sockInodes(p.pid)[sock] {
		t.Errorf("drover closed removed slot 1's socket %s while its worker was still stopping", sock)
	}
	release(t, hold)
	eventually(t, 10*time.Second, "drover to close removed slot 1's socket "+sock+" after its worker stopped",
		func() (map[string]bool, bool) { s := sockInodes(p.pid); return s, !s[sock] })
	// drover reaps before it releases: once the socket is gone, so must
	// the worker be, or the socket was closed under it.
	if _, err := os.Stat("/proc/" + strconv.Itoa(host)); err == nil {
		t.Errorf("removed slot 1's socket was closed while its worker %d still ran", host)
	}
	if !sockInodes(p.pid)[sock0] {
		t.Errorf("slot 0's socket %s was closed too", sock0)
	}
	p.stop()
}

// release lets listen-fds workers held by HOLD_TERM go, this one and any
// later: each opens the FIFO for reading once it has its stop signal, and
// that open returns while the test holds the FIFO open for writing. Until
// the first worker has opened it, a non-blocking open for writing finds no
// reader (ENXIO).
func release(t *testing.T, fifo string) {
	t.Helper()
	f := eventually(t, 10*time.Second, "the held worker to open "+fifo, func() (*os.File, bool) {
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		return f, err == nil
	})
	t.Cleanup(func() { f.Close() })
}
