package health

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serverConns counts the connections this process holds open on the
// server's side of addr: sockets whose local port is addr's, but for the
// listening one. The clients of a test are in this process too; their
// local ports are others.
func serverConns(t *testing.T, addr string) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	mine := map[string]bool{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st ... inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] == "0A" || !mine[f[9]] {
				continue
			}
			if _, lp, ok := strings.Cut(f[1], ":"); ok {
				if v, err := strconv.ParseUint(lp, 16, 16); err == nil && int(v) == p {
					n++
				}
			}
		}
	}
	return n
}

// A flood of idle connections holds at most MaxConns of drover's
// descriptors, and the silent ones are dropped after the header timeout,
// so a probe behind them still gets through.
func TestConnectionFlood(t *testing.T) {
	const maxConns, flood = 4, 40
	addr := startServerOpts(t, Options{
		Source: fakeSource{snap: pool(1, 1, 1)}, Names: testNames, Timeout: testTimeout,
		MaxConns: maxConns, headerTimeout: 200 * time.Millisecond, idleTimeout: 200 * time.Millisecond,
	})
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range flood {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Wait until the server holds all it may (polling /proc: there is no
	// event for a descriptor), so that the bound below is checked against
	// a server that took its share.
	held := func() int { return serverConns(t, addr) }
	deadline := time.Now().Add(5 * time.Second)
	for held() < maxConns {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d connections after 5 s, want %d", held(), maxConns)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// From then on, until every silent connection is dropped, it never
	// holds more.
	most := make(chan int)
	stop := make(chan struct{})
	go func() {
		m := 0
		for {
			m = max(m, held())
			select {
			case <-stop:
				most <- m
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	defer func() {
		close(stop)
		if m := <-most; m > maxConns {
			t.Errorf("the server held %d descriptors for %d idle connections, want at most %d", m, flood, maxConns)
		}
	}()

	// 40 silent connections, 4 at a time, 200 ms each: the probe waits
	// about 2 s in the accept queue, then is answered.
	start := time.Now()
	if r := httpGet(t, addr, "/livez"); r.code != 200 {
		t.Errorf("/livez behind the flood = %d %q", r.code, r.body)
	}
	t.Logf("/livez answered %v after a flood of %d idle connections", time.Since(start), flood)

	// Each silent connection was closed by the server (read sees EOF).
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
			t.Fatalf("connection %d: not closed by the server: %v", i, err)
		}
	}
}

// Shutdown wakes a server whose every slot is taken.
func TestLimitListenerCloseWakesAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 1)
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("second Accept returned %v with the only slot taken", err)
	case <-time.After(50 * time.Millisecond):
	}
	ln.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Accept after Close: nil error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	// Closing a connection twice frees its slot once.
	first.Close()
	first.Close()
	if n := len(ln.slots); n != 0 {
		t.Errorf("%d slots taken after the connection closed", n)
	}
}

// Probes do not pay for resource usage; /status and /metrics do.
func TestUsageOnlyWhenShown(t *testing.T) {
	src := &scriptSource{snaps: []Snapshot{pool(1, 1, 1)}}
	addr := startServer(t, src)
	for _, path := range []string{"/livez", "/readyz", "/readyz/workers", "/status", "/metrics"} {
		if r := httpGet(t, addr, path); r.code != 200 {
			t.Fatalf("%s = %d", path, r.code)
		}
	}
	got := src.asked()
	// /readyz/workers asks once; /readyz once; /metrics once.
	want := []Query{{}, {}, {}, {Usage: true}, {Usage: true}}
	if !slices.Equal(got, want) {
		t.Errorf("queries %+v, want %+v", got, want)
	}
}
