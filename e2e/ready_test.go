package e2e

// DROVER_READY=listening, the default with DROVER_LISTEN: a worker is ready
// once its process tree waits for connections on drover's socket, seen from
// /proc, with nothing from the server. Real servers (Python's http.server
// and asyncio, Node, Go), a reload under load, a worker that never listens,
// a crash loop on "address already in use", another user's worker checked
// by a drover without CAP_SYS_PTRACE.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readyPython is the system's python3 where there is one: a pyenv shim
// costs a shell and cannot be run by another user.
func readyPython(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	require(t, "python3")
	p, err := realPython()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startReady runs drover with a pool on a loopback port, its health server
// and the debug log (which names each worker seen listening).
func startReady(t *testing.T, o opts, args ...string) (*drover, string) {
	t.Helper()
	o.health = true
	o.env = append([]string{"DROVER_LISTEN=127.0.0.1:0", "DROVER_LOG_LEVEL=debug"}, o.env...)
	d := start(t, o, args...)
	var url string
	for _, u := range boundAddrs(t, d) {
		url = u
	}
	return d, url
}

var listensRx = `worker listens worker=(\d+) pid=(\d+) how=(\w+)`

// Each kind of real server is seen listening, the way it waits.
func TestReadyRealServers(t *testing.T) {
	py := readyPython(t)
	asyncio := `import asyncio, socket
async def main():
    async def hello(r, w):
        await r.readline()
        w.write(b"HTTP/1.0 200 OK\r\n\r\nasyncio pid=%d\n" % __import__("os").getpid())
        await w.drain()
        w.close()
    srv = await asyncio.start_server(hello, sock=socket.socket(fileno=3))
    await srv.serve_forever()
asyncio.run(main())`
	accept := `import os, socket
s = socket.socket(fileno=3)
while True:
    c, _ = s.accept()
    c.recv(1024)
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\naccept pid=%d\n" % os.getpid())
    c.close()`
	cases := []struct {
		name string
		argv func(t *testing.T) []string
		how  string
	}{
		{"python http.server", func(t *testing.T) []string { return []string{py, testdata("ready/server.py")} }, "poll"},
		{"python asyncio", func(t *testing.T) []string { return []string{py, "-c", asyncio} }, "epoll"},
		{"python blocking accept", func(t *testing.T) []string { return []string{py, "-c", accept} }, "accept"},
		{"node listen fd 3", func(t *testing.T) []string {
			return []string{program(t, "node"), repoFile("examples/node/server.js")}
		}, "epoll"},
		{"go net.FileListener", func(t *testing.T) []string { return workerArgs(t, "listen-http") }, "epoll"},
		// gunicorn adopts the socket from LISTEN_FDS; its sync worker, a
		// child of the arbiter, waits in select.
		{"gunicorn sync worker", func(t *testing.T) []string {
			return []string{program(t, "gunicorn"), "--chdir", testdata("ready"), "wsgi:app"}
		}, "select"},
		// puma's server thread waits in pselect6 (IO.select).
		{"puma", func(t *testing.T) []string {
			return []string{program(t, "puma"), "--bind-to-activated-sockets", "only", "-t", "2:2", testdata("ready/config.ru")}
		}, "select"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, url := startReady(t, opts{env: []string{"DROVER_WORKERS=1"}}, tc.argv(t)...)
			m := d.waitLog(listensRx, 1, 30*time.Second)
			if m[3] != tc.how {
				t.Errorf("seen listening by %s, want %s", m[3], tc.how)
			}
			d.waitStatus("the worker ready", 5*time.Second, readyIs(1))
			if code, _ := d.get("/readyz"); code != 200 {
				t.Errorf("/readyz %d with a listening worker", code)
			}
			if body := getURL(t, url, "/"); !strings.Contains(body, "pid") {
				t.Errorf("answer %q", body)
			}
			d.stop()
		})
	}
}

// With DROVER_LISTEN and no DROVER_READY, a worker that takes a second to
// import its app is not ready (and /readyz fails) until it listens; drover
// sees it within one probe interval of the listen.
func TestReadyDefaultIsListening(t *testing.T) {
	out := t.TempDir()
	d, url := startReady(t, opts{env: []string{"DROVER_WORKERS=2", "READY_SLEEP=1", "READY_OUT=" + out}},
		readyPython(t), testdata("ready/server.py"))
	d.waitLog(`worker started worker=1`, 1, 10*time.Second)
	if s := d.status(); s.Ready != 0 || s.Workers[0].State != "starting" || s.Workers[1].State != "starting" {
		t.Fatalf("ready before listening: %+v", s.Workers)
	}
	if code, _ := d.get("/readyz"); code != 503 {
		t.Errorf("/readyz %d while no worker listens, want 503", code)
	}
	lat := readyLatencies(t, d, out, 2)
	t.Logf("listen() to ready in drover's log: %v", lat)
	d.waitStatus("both workers ready", 5*time.Second, readyIs(2))
	distinctPids(t, url, 2)
	d.stop()
}

// readyLatencies waits for n "worker listens" lines and returns, for each,
// the time from the worker's own listen (its READY_OUT file) to the line.
// Two lines read together make the second look later: never shorter.
func readyLatencies(t *testing.T, d *drover, out string, n int) []time.Duration {
	t.Helper()
	rx := regexp.MustCompile(listensRx)
	var lat []time.Duration
	for i := 1; i <= n; i++ {
		d.waitLog(listensRx, i, 30*time.Second)
		at := time.Now()
		var pids []string
		for _, l := range d.lines() {
			if m := rx.FindStringSubmatch(l); m != nil {
				pids = append(pids, m[2])
			}
		}
		pid := pids[i-1]
		b, err := os.ReadFile(filepath.Join(out, pid+".listen"))
		if err != nil {
			t.Fatalf("drover saw pid %s listen before it did: %v", pid, err)
		}
		l := at.Sub(parseNanos(t, string(b)))
		if l < 0 {
			t.Fatalf("pid %s seen listening %v before it listened", pid, -l)
		}
		lat = append(lat, l.Round(100*time.Microsecond))
	}
	return lat
}
