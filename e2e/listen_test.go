package e2e

// Issue 4: the sockets drover opens reach workers of any language through
// the systemd socket-activation protocol. Real sockets on loopback.

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A Go, a Python and a Node worker each answer HTTP on the inherited fd 3,
// and with two workers the answers come from two distinct pids.
func TestListenWorkersInEveryLanguageAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  func(t *testing.T) []string
	}{
		{"go", func(t *testing.T) []string { return workerArgs(t, "listen-http") }},
		{"python", func(t *testing.T) []string {
			return []string{program(t, "python3"), repoFile("examples/python/server.py")}
		}},
		{"node", func(t *testing.T) []string { return []string{program(t, "node"), repoFile("examples/node/server.js")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As in the README: every address, "curl localhost:PORT".
			p := start(t, opts{pidns: true, env: []string{"DROVER_LISTEN=:0", "DROVER_WORKERS=2"}},
				append([]string{"--"}, tc.cmd(t)...)...)
			bound := boundAddrs(t, p)["tcp-0"]
			_, port, err := net.SplitHostPort(strings.TrimPrefix(bound, "tcp://"))
			if err != nil {
				t.Fatalf("listening line gives %q", bound)
			}
			url := "tcp://127.0.0.1:" + port
			seen := distinctPids(t, url, 2)
			out, err := exec.Command(program(t, "curl"), "-sS", "--max-time", "5", "http://localhost:"+port+"/").CombinedOutput()
			if err != nil || !pidRx.Match(out) {
				t.Errorf("curl localhost:%s: %v %q", port, err, out)
			}
			t.Logf("%s: answers per pid %v", tc.name, seen)
			// Every pid that answered is one drover started (its log may
			// come after the worker's first answers).
			for pid := range seen {
				p.waitLog(`worker started worker=\d+ pid=`+pid+`( |$)`, 1, 10*time.Second)
			}
			p.stop()
		})
	}
}

// Two named TCP listeners and a unix socket arrive as fds 3, 4, 5 in
// DROVER_LISTEN order, named in LISTEN_FDNAMES, with LISTEN_PID equal to
// the worker's own pid.
func TestListenNamesOrderAndListenPID(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "app.sock")
	p := start(t, opts{pidns: true, env: []string{
		"DROVER_LISTEN=web=tcp://127.0.0.1:0, admin=tcp://127.0.0.1:0,unix://" + sock, "DROVER_WORKERS=1",
	}}, workerArgs(t, "listen-http")...)
	addrs := boundAddrs(t, p)
	if addrs["unix-app.sock"] != "unix://"+sock || addrs["web"] == addrs["admin"] {
		t.Fatalf("bound %v", addrs)
	}
	pid := ""
	for _, name := range []string{"web", "admin", "unix-app.sock"} {
		body := getURL(t, addrs[name], "/")
		if !strings.Contains(body, "name="+name+"\n") {
			t.Errorf("%s (%s) answered %q: the socket is not at its place in LISTEN_FDNAMES", name, addrs[name], body)
		}
		m := pidRx.FindStringSubmatch(body)
		if pid != "" && m[1] != pid {
			t.Errorf("one worker, but pids %s and %s answered", pid, m[1])
		}
		pid = m[1]
	}
	env := getURL(t, addrs["web"], "/env")
	for _, want := range []string{
		"pid=" + pid + "\n", "LISTEN_PID=" + pid + "\n", "LISTEN_FDS=3\n",
		"LISTEN_FDNAMES=web:admin:unix-app.sock\n", "DROVER_WORKER_ID=0\n", "DROVER_WORKERS=1\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("worker's environment lacks %q:\n%s", want, env)
		}
	}
	p.stop()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("drover left its unix socket behind: %v", err)
	}
}

// [::1] works like 127.0.0.1; a wildcard ":0" answers on both families.
func TestListenIPv6(t *testing.T) {
	require(t, "ipv6")
	p := start(t, opts{pidns: true, env: []string{"DROVER_LISTEN=v6=tcp://[::1]:0,any=:0", "DROVER_WORKERS=1"}},
		workerArgs(t, "listen-http")...)
	addrs := boundAddrs(t, p)
	if !strings.HasPrefix(addrs["v6"], "tcp://[::1]:") {
		t.Fatalf("v6 bound to %q", addrs["v6"])
	}
	if body := getURL(t, addrs["v6"], "/"); !strings.Contains(body, "name=v6\n") {
		t.Errorf("[::1] answered %q", body)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(addrs["any"], "tcp://"))
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		if body := getURL(t, "tcp://"+host+":"+port, "/"); !strings.Contains(body, "name=any\n") {
			t.Errorf("wildcard listener via %s answered %q", host, body)
		}
	}
	p.stop()
}

// A worker built on github.com/coreos/go-systemd/v22/activation finds its
// listeners: the library ignores them unless LISTEN_PID is its own pid.
func TestListenActivationLibraryAccepts(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "activation")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = testdata("activation")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the go-systemd worker (needs the module proxy or a filled module cache): %v\n%s", err, out)
	}
	p := start(t, opts{pidns: true, env: []string{"DROVER_LISTEN=http=127.0.0.1:0,metrics=127.0.0.1:0", "DROVER_WORKERS=2"}},
		bin)
	addrs := boundAddrs(t, p)
	seen := distinctPids(t, addrs["http"], 2)
	if body := getURL(t, addrs["metrics"], "/"); !strings.Contains(body, "name=metrics names=http,metrics\n") {
		t.Errorf("metrics socket answered %q", body)
	}
	t.Logf("go-systemd workers answering: %v", seen)
	if n := p.count(`worker failed`); n > 0 {
		t.Errorf("%d activation workers failed: they did not find their listeners", n)
	}
	p.stop()
}

// drover socket-activated itself: fd://3 re-passes the socket it
// inherited; its own LISTEN_* never reach the workers.
func TestListenInheritedFD(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	// LISTEN_PID must be drover's pid, unknown before fork: a shell learns
	// its own pid and execs drover, which keeps it.
	wrap := []string{"sh", "-c", `export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=outer; exec "$@"`, "sh"}
	p := start(t, opts{pidns: true, env: []string{"DROVER_LISTEN=fd://3", "DROVER_WORKERS=2"}, extra: []*os.File{f}, wrap: wrap},
		workerArgs(t, "listen-http")...)
	// Only drover holds the socket now, so only its workers can answer.
	f.Close()
	l.Close()
	if got := boundAddrs(t, p)["fd-3"]; got != "tcp://"+addr {
		t.Errorf("fd://3 logged as %q, want tcp://%s", got, addr)
	}
	distinctPids(t, "tcp://"+addr, 2)
	env := getURL(t, "tcp://"+addr, "/env")
	pid := pidRx.FindStringSubmatch(env)[1]
	for _, want := range []string{"LISTEN_PID=" + pid + "\n", "LISTEN_FDS=1\n", "LISTEN_FDNAMES=fd-3\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("worker's environment lacks %q:\n%s", want, env)
		}
	}
	p.stop()
}

// A taken port and an unusable address fail drover's start with exit 2 and
// one line naming DROVER_LISTEN, before any worker runs.
func TestListenBadAddressExits2BeforeAnyWorker(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// A SO_REUSEPORT listener of the same user would let a reuseport bind
	// join it and share its traffic; drover must still call the port taken.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return serr
	}}
	takenRP, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer takenRP.Close()
	notSocket := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSocket, nil, 0o644)
	for _, tc := range []struct{ listen, want, env string }{
		{listen: "tcp://" + taken.Addr().String(), want: `DROVER_LISTEN: .*` + regexp.QuoteMeta(taken.Addr().String()) + `.*address already in use`},
		{listen: "ok=127.0.0.1:0,busy=" + taken.Addr().String(), want: `DROVER_LISTEN: busy=.*address already in use`},
		{listen: taken.Addr().String(), want: `DROVER_LISTEN: .*address already in use`, env: "DROVER_REUSEPORT=true"},
		{listen: takenRP.Addr().String(), want: `DROVER_LISTEN: .*address already in use`, env: "DROVER_REUSEPORT=true"},
		{listen: "tcp://127.0.0.1:99999", want: `DROVER_LISTEN: .*port must be 1-65535`},
		{listen: "8080", want: `DROVER_LISTEN: .*did you mean ":8080"`},
		{listen: "tcp://[::1:80", want: `DROVER_LISTEN: `},
		{listen: "tcp://256.1.1.1:80", want: `DROVER_LISTEN: .*not a valid IP address`},
		{listen: "udp://127.0.0.1:80", want: `DROVER_LISTEN: .*unsupported scheme`},
		{listen: "unix://relative.sock", want: `DROVER_LISTEN: .*absolute`},
		{listen: "unix://" + notSocket, want: `DROVER_LISTEN: .*not a socket`},
		{listen: "tcp://192.0.2.1:8080", want: `DROVER_LISTEN: .*(cannot assign requested address|no network interface)`},
		{listen: "fd://3", want: `DROVER_LISTEN: fd://3: no inherited sockets`},
		{listen: "a=127.0.0.1:0,a=127.0.0.1:0", want: `DROVER_LISTEN: .*name "a" is already used`},
	} {
		mark := filepath.Join(t.TempDir(), "ran")
		env := []string{"DROVER_LISTEN=" + tc.listen, "DROVER_WORKERS=2"}
		if tc.env != "" {
			env = append(env, tc.env)
		}
		cmd := command(t, opts{env: env}, "sh", "-c", "touch "+mark)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr, cmd.WaitDelay = &buf, &buf, time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A drover that wrongly started would restart its workers until
		// the crash limit; do not wait for that.
		kill := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		err := cmd.Wait()
		kill.Stop()
		out := buf.Bytes()
		line := strings.TrimSpace(string(out))
		if code := exitCode(err); code != 2 {
			t.Errorf("DROVER_LISTEN=%s %s: exit %d, want 2 (%q)", tc.listen, tc.env, code, line)
		}
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "drover: ") || !regexp.MustCompile(tc.want).MatchString(line) {
			t.Errorf("DROVER_LISTEN=%s: got %q, want one line matching %q", tc.listen, line, tc.want)
		}
		if _, err := os.Stat(mark); err == nil {
			t.Errorf("DROVER_LISTEN=%s: a worker ran", tc.listen)
		}
	}
}

// shortTempDir is for unix sockets: t.TempDir's path, which holds the
// test's name, can pass the 107 bytes a socket path may have.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "dl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
