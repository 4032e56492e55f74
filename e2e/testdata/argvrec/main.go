// Command argvrec is an e2e worker that records what it was started with
// (argv, pid, LISTEN_*, its oom_score_adj and every open descriptor) as
// JSON in $ARGV_OUT/<DROVER_WORKER_ID>.<pid>, then waits for SIGTERM and
// exits 0. It is a program of its own, not the test binary, so that what
// drover passes as argv[0] is what it sees.
//
// With ARGV_FLOOD=N it then sends READY=1, N datagrams too large for
// drover's sd_notify socket, and STATUS=flooded, which drover shows once
// it has seen every datagram before it.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

type record struct {
	Argv      []string       `json:"argv"`
	Pid       int            `json:"pid"`
	ListenPid string         `json:"listen_pid"`
	ListenFDs string         `json:"listen_fds"`
	OOM       string         `json:"oom_score_adj"`
	FDs       map[int]string `json:"fds"` // fd -> readlink of /proc/self/fd/N
}

func main() {
	r := record{Argv: os.Args, Pid: os.Getpid(), ListenPid: os.Getenv("LISTEN_PID"),
		ListenFDs: os.Getenv("LISTEN_FDS"), FDs: map[int]string{}}
	// First, before this program opens anything of its own (the runtime's
	// poller, files); Readlink opens nothing, unlike listing /proc/self/fd.
	for fd := 0; fd < 1024; fd++ {
		if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil {
			r.FDs[fd] = target
		}
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		r.OOM = strings.TrimSpace(string(b))
	}
	b, _ := json.Marshal(r)
	dir := os.Getenv("ARGV_OUT")
	name := os.Getenv("DROVER_WORKER_ID") + "." + strconv.Itoa(r.Pid)
	// Written whole, then renamed: the test never reads half a record.
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "argvrec:", err)
		os.Exit(1)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		fmt.Fprintln(os.Stderr, "argvrec:", err)
		os.Exit(1)
	}
	if n, err := strconv.Atoi(os.Getenv("ARGV_FLOOD")); err == nil {
		if err := flood(n); err != nil {
			fmt.Fprintln(os.Stderr, "argvrec:", err)
			os.Exit(1)
		}
	}
	<-term
}

func flood(n int) error {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("READY=1")); err != nil {
		return err
	}
	big := []byte("STATUS=" + strings.Repeat("x", 9000))
	for i := 0; i < n; i++ {
		if _, err := c.Write(big); err != nil {
			return err
		}
	}
	_, err = c.Write([]byte("STATUS=flooded"))
	return err
}
