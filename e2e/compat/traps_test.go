package compat

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quickExit is drover's hint for a worker that exits within its first
// second while DROVER_LISTEN is set.
const quickExit = `drover: warning: worker exited within 1s of starting`

// trapKinds are the mistakes the page shows, by role.
var trapKinds = map[string]func(t *testing.T, d *drover){
	// The server binds drover's port itself (fd 3 forgotten, puma's -b
	// not matching drover's address, a shell without exec that hides the
	// socket): every worker crash-loops.
	"trap-port": crashLoop,
	// gunicorn --bind fd://3: the socket is adopted twice, fd 3 closed
	// twice, every worker crash-loops.
	"trap-bind-fd": crashLoop,
	// nohup: HUP stays ignored, so SIGHUP reloads nothing.
	"trap-nohup": hupIgnored,
}

// forgotFd3 makes, for the servers whose page has no such trap, the
// version that binds drover's port itself: old is replaced by new in the
// file (or in the run line when file is "").
var forgotFd3 = map[string]struct{ file, old, new string }{
	"uvicorn":   {"", "--fd 3", "--host 0.0.0.0 --port 8080"},
	"hypercorn": {"", "--bind fd://3", "--bind 0.0.0.0:8080"},
	"aiohttp":   {"app.py", "sock=socket.socket(fileno=3)", "port=8080"},
	"node":      {"server.js", "server.listen({ fd: 3 })", "server.listen(8080)"},
	"express":   {"app.js", "app.listen({ fd: 3 }", "app.listen(8080"},
	"fastify":   {"app.js", "app.listen({ fd: 3 }", "app.listen({ port: 8080, host: '0.0.0.0' }"},
	"go":        {"main.go", `net.FileListener(os.NewFile(3, "drover"))`, `net.Listen("tcp", ":8080")`},
}

// TestTraps runs each mistake the page shows, and for every server the
// version that binds drover's port itself, and checks that drover says
// what the page says it says. One at a time: a crash loop's hint depends on
// a worker dying within its first second, which a crowded machine delays.
func TestTraps(t *testing.T) {
	p := loadPage(t)
	covered := map[string]bool{}
	for _, name := range sortedKeys(p.groups) {
		g := p.groups[name]
		for _, b := range g.traps {
			covered[baseName(name)] = covered[baseName(name)] || b.role != "trap-nohup"
			t.Run(name+"/"+b.role, func(t *testing.T) {
				dir := prepare(t, p, g, nil)
				line := commandLine(b)
				if line == "" {
					t.Fatalf("%s line %d: a trap block is one command line", docPath, b.line)
				}
				d := startLine(t, dir, line, freePort(t))
				trapKinds[b.role](t, d)
				for _, lb := range g.logs {
					checkLogBlock(t, d, lb)
				}
			})
		}
	}
	for _, name := range servers {
		if covered[name] {
			continue
		}
		v, ok := forgotFd3[name]
		if !ok {
			t.Errorf("%s: no mistake that binds the port is shown or made for %s", docPath, name)
			continue
		}
		t.Run(name+"/forgot-fd-3", func(t *testing.T) {
			g := p.groups[name]
			if g == nil || g.run == nil {
				t.Fatalf("%s has no run block for %s", docPath, name)
			}
			line := commandLine(*g.run)
			dir := prepare(t, p, g, func(dir string) {
				if v.file == "" {
					line = replaceOnce(t, line, v.old, v.new)
					return
				}
				path := filepath.Join(dir, v.file)
				src, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(replaceOnce(t, string(src), v.old, v.new)), 0o644); err != nil {
					t.Fatal(err)
				}
			})
			d := startLine(t, dir, line, freePort(t))
			crashLoop(t, d)
			if d.count(`(?i)address already in use`) == 0 {
				t.Errorf("no worker said \"address already in use\"")
			}
		})
	}
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("the page's text no longer has %q exactly once; update forgotFd3", old)
	}
	return strings.Replace(s, old, withPort(new, 8080), 1)
}

// crashLoop checks a pool whose every worker dies at start: the quick-exit
// hint is logged once per cause, and /readyz never says 200, from the
// first moment until a second after the hint.
func crashLoop(t *testing.T, d *drover) {
	t.Helper()
	hinted := time.Time{}
	deadline := time.Now().Add(20 * time.Second)
	polls, ok200 := 0, 0
	for time.Now().Before(deadline) {
		// /readyz has no event to wait on; poll it as a kubelet would,
		// only faster.
		switch d.readyz() {
		case http.StatusOK:
			ok200++
		case 0:
		default:
			polls++
		}
		if hinted.IsZero() && d.count(quickExit) > 0 {
			hinted = time.Now()
		}
		if !hinted.IsZero() && time.Since(hinted) > time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if hinted.IsZero() {
		t.Errorf("no quick-exit hint (%q) within 20 s of a crash loop", quickExit)
	}
	if ok200 > 0 {
		t.Errorf("/readyz said 200 %d times while every worker crash-looped (and 503 %d times)", ok200, polls)
	}
	if n := d.count(quickExit); n > 2 {
		t.Errorf("the hint was logged %d times; once per cause is enough", n)
	}
	if n := d.count(`worker failed`); n < 2 {
		t.Errorf("%d failed workers logged; a crash loop has at least 2", n)
	}
	d.signal(syscall.SIGTERM)
	d.wait(stopTimeout + 5*time.Second)
	t.Logf("%s: drover said:\n%s", d.line, strings.Join(d.matching(`^drover: warning: worker exited|^drover: .*did not start`), "\n"))
}

// hupIgnored checks nohup's effect: drover and its workers ignore HUP, so
// a SIGHUP reloads nothing.
func hupIgnored(t *testing.T, d *drover) {
	t.Helper()
	pids := d.waitReady(startBound)
	for _, pid := range append([]int{d.pid}, pids[0], pids[1]) {
		if ign, err := sigIgnored(pid, syscall.SIGHUP); err != nil || !ign {
			t.Errorf("pid %d: HUP ignored %v (%v); nohup should have made it so", pid, ign, err)
		}
	}
	d.signal(syscall.SIGHUP)
	// An ignored signal leaves no event to wait for: give a reload, which
	// would log at once, a second to show up.
	time.Sleep(time.Second)
	if n := d.count(`reloading workers`); n > 0 {
		t.Errorf("a SIGHUP under nohup reloaded the workers")
	}
	if now := d.waitReady(startBound); fmt.Sprint(now) != fmt.Sprint(pids) {
		t.Errorf("workers changed from %v to %v after an ignored SIGHUP", pids, now)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(stopTimeout + 5*time.Second); code != 0 {
		t.Errorf("drover exited %d after SIGTERM, want 0", code)
	}
}

// checkLogBlock checks that every line of a log block of the page was
// printed: "..." stands for any text, 8080 for the run's port.
func checkLogBlock(t *testing.T, d *drover, b block) {
	t.Helper()
	for _, want := range strings.Split(strings.TrimSpace(b.text), "\n") {
		parts := strings.Split(withPort(want, d.port), "...")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := "^" + strings.Join(parts, ".*") + "$"
		if d.count(re) == 0 {
			t.Errorf("%s line %d: no log line like %q", docPath, b.line, want)
		}
	}
}
