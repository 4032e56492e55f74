package main

// Harness pieces of the socket tests: starting drover with inherited
// descriptors, learning its bound addresses from its log, and talking HTTP
// to the workers.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDroverWith is startDrover with descriptors drover inherits as fds
// 3, 4, … and an optional wrapper command (a shell that sets LISTEN_PID to
// its own pid and execs drover).
func startDroverWith(t *testing.T, o runOpts, extra []*os.File, wrap []string, args ...string) *proc {
	t.Helper()
	o.extra, o.wrap = extra, wrap
	return startDrover(t, o, args...)
}

// helperArgs runs the test binary as a worker in mode. The mode travels
// through env(1), not drover's environment: drover rejects DROVER_*
// variables it does not know, and env execs, so LISTEN_PID still matches.
func helperArgs(t *testing.T, mode string, env ...string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]string{"env", "DROVER_TEST_HELPER=" + mode}, env...), exe)
}

// boundAddrs waits for drover's "listening" line and returns name → address
// ("tcp://127.0.0.1:41234", "unix:///tmp/x.sock").
func boundAddrs(t *testing.T, p *proc) map[string]string {
	t.Helper()
	p.waitLog(`^drover: listening addrs=`, 1, 10*time.Second)
	rx := regexp.MustCompile(`^drover: listening addrs="?([^" ]+)"?`)
	for _, l := range p.lines() {
		if m := rx.FindStringSubmatch(l); m != nil {
			out := map[string]string{}
			for _, item := range strings.Split(m[1], ",") {
				name, addr, _ := strings.Cut(item, "=")
				out[name] = addr
			}
			return out
		}
	}
	t.Fatal("no listening line")
	return nil
}

// splitURL turns tcp://host:port or unix:///path into Dial's arguments.
func splitURL(u string) (network, addr string) {
	scheme, rest, _ := strings.Cut(u, "://")
	return scheme, rest
}

// get sends one HTTP/1.0 request on a new connection and returns the body.
// HTTP/1.0 makes the server close the connection, so every call is a new
// connection as a client loop would make.
func get(network, addr, path string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.0\r\nHost: drover\r\n\r\n"); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.Contains(status, " 200 ") {
		return "", fmt.Errorf("status %q", strings.TrimSpace(status))
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if l == "\r\n" {
			break
		}
	}
	body, err := io.ReadAll(br)
	return string(body), err
}

// getURL retries until the worker answers: right after start a worker may
// still be loading, and its connections wait in the queue anyway.
func getURL(t *testing.T, url, path string) string {
	t.Helper()
	network, addr := splitURL(url)
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := get(network, addr, path, 5*time.Second)
		if err == nil {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s%s: %v", url, path, err)
		}
		time.Sleep(20 * time.Millisecond) // polling HTTP with a deadline
	}
}

var pidRx = regexp.MustCompile(`pid[= ](\d+)`)

// distinctPids requests url until want different pids have answered.
func distinctPids(t *testing.T, url string, want int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < want {
		if time.Now().After(deadline) {
			t.Fatalf("only pids %v answered on %s, want %d distinct", seen, url, want)
		}
		body := getURL(t, url, "/")
		m := pidRx.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("answer without a pid: %q", body)
		}
		seen[m[1]]++
	}
	return seen
}

// waitUp waits until n workers of a helper mode have written their files
// in dir, and returns name → content.
func waitUp(t *testing.T, dir string, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(dir, "*.*[0-9]"))
		if len(m) >= n {
			out := map[string]string{}
			for _, f := range m {
				b, _ := os.ReadFile(f)
				out[filepath.Base(f)] = string(b)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d workers came up (%v)", len(m), n, m)
		}
		time.Sleep(10 * time.Millisecond) // polling files: no event to wait on
	}
}

// stop ends drover with SIGTERM and expects exit 0.
func stop(t *testing.T, p *proc) {
	t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
}
