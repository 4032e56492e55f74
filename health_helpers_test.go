package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// healthHelper runs the worker modes of the health tests.
func healthHelper(mode string) (int, bool) {
	switch mode {
	case "hz-worker":
		return hzWorker(), true
	}
	return 0, false
}

// hzWorker is a worker the health tests steer through files in $HZ_DIR,
// each named after the worker's pid so that a restarted worker in the same
// slot does not obey its predecessor's triggers:
//
//	info.PID    written at start: what the worker sees (pid, WATCHDOG_*, …)
//	send.PID    the test drops a datagram here; it goes to $NOTIFY_SOCKET as is
//	hang.PID    stop sending WATCHDOG=1
//	alloc.PID   allocate and touch that many MiB
//	orphan.PID  leave one orphan behind for drover to reap
//	ready.PID   written once HZ_READY sent READY=1: when, in Unix nanoseconds
//	term.PID    written on SIGTERM: when it came, in Unix nanoseconds
//
// HZ_READY=1 sends READY=1 (and STATUS=$HZ_STATUS) once serving, after
// HZ_READY_DELAY; HZ_PING=100ms sends WATCHDOG=1 that often. With
// LISTEN_FDS=1 it serves HTTP on fd 3 and stops like a well-behaved app:
// http.Server.Shutdown on SIGTERM, finishing the requests in flight.
func hzWorker() int {
	// Never outlive drover, or a failed test leaves workers polling forever.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	dir := os.Getenv("HZ_DIR")
	pid := os.Getpid()
	file := func(name string) string { return filepath.Join(dir, name+"."+strconv.Itoa(pid)) }

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	// Forwarded signals must not kill the worker (Go's default for USR1/2).
	signal.Notify(make(chan os.Signal, 8), syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGQUIT)

	var srv *http.Server
	if os.Getenv("LISTEN_FDS") == "1" {
		ln, err := net.FileListener(os.NewFile(3, "listen"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "hz-worker:", err)
			return 1
		}
		srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ms, err := strconv.Atoi(r.URL.Query().Get("sleep_ms")); err == nil {
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}
			fmt.Fprintf(w, "worker %s pid %d\n", os.Getenv("DROVER_WORKER_ID"), pid)
		})}
		go func() { _ = srv.Serve(ln) }()
	}

	info := fmt.Sprintf("pid=%d\nworker=%s\nWATCHDOG_USEC=%s\nWATCHDOG_PID=%s\nNOTIFY_SOCKET=%s\n",
		pid, os.Getenv("DROVER_WORKER_ID"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getenv("NOTIFY_SOCKET"))
	hzWriteFile(file("info"), info)

	if os.Getenv("HZ_READY") == "1" {
		go func() {
			d, _ := time.ParseDuration(os.Getenv("HZ_READY_DELAY"))
			time.Sleep(d)
			msg := "READY=1"
			if st := os.Getenv("HZ_STATUS"); st != "" {
				msg += "\nSTATUS=" + st
			}
			hzNotify(msg)
			hzWriteFile(file("ready"), strconv.FormatInt(time.Now().UnixNano(), 10))
		}()
	}
	if every, err := time.ParseDuration(os.Getenv("HZ_PING")); err == nil {
		go func() {
			for {
				if _, err := os.Stat(file("hang")); err == nil {
					return // a hung app: alive, but the watchdog hears nothing
				}
				hzNotify("WATCHDOG=1")
				time.Sleep(every)
			}
		}()
	}

	var hog [][]byte // kept reachable so the memory stays resident
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-term:
			hzWriteFile(file("term"), strconv.FormatInt(time.Now().UnixNano(), 10))
			if srv != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := srv.Shutdown(ctx)
				cancel()
				if err != nil {
					return 1
				}
			}
			return 0
		case <-tick.C:
		}
		if _, err := os.Stat(dir); err != nil {
			return 3 // the test is gone
		}
		if b, err := os.ReadFile(file("send")); err == nil {
			os.Remove(file("send"))
			hzNotify(string(b))
		}
		if b, err := os.ReadFile(file("alloc")); err == nil {
			os.Remove(file("alloc"))
			mib, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			buf := make([]byte, mib<<20)
			for i := 0; i < len(buf); i += 4096 {
				buf[i] = 1 // untouched pages are not resident
			}
			hog = append(hog, buf)
			hzWriteFile(file("alloced"), strconv.Itoa(mib))
		}
		if _, err := os.Stat(file("orphan")); err == nil {
			os.Remove(file("orphan"))
			// sh exits at once and is reaped here; its sleep is orphaned
			// and reparented to drover.
			_ = exec.Command("sh", "-c", "sleep 0.1 &").Run()
		}
	}
}

var hzNotifyMu sync.Mutex

// hzNotify is sd_notify(3): one datagram to $NOTIFY_SOCKET. Go maps a
// leading "@" to the abstract namespace itself, as sd_notify does.
func hzNotify(msg string) {
	hzNotifyMu.Lock()
	defer hzNotifyMu.Unlock()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hz-worker: notify:", err)
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		fmt.Fprintln(os.Stderr, "hz-worker: notify:", err)
	}
}

// hzWriteFile writes atomically, so the test never reads half a file.
func hzWriteFile(path, content string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err == nil {
		_ = os.Rename(tmp, path)
	}
}
