package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// servers are the page's groups that get the whole treatment, in the
// order the suite runs them.
var servers = []string{"uvicorn", "gunicorn", "puma", "hypercorn", "aiohttp", "node", "express", "fastify", "go"}

// The load of the issue: `hey -z 10s -c 32`, keep-alive.
const (
	loadConns = 32
	loadTime  = 10 * time.Second
	// slowBound is the longest any request may take while drover reloads
	// or replaces a worker.
	slowBound = time.Second
)

// result is one server's row of the report.
type result struct {
	start               time.Duration // drover start → both workers ready
	requests, failures  int
	lost                int // requests in flight in the worker killed with -9
	rps                 float64
	slowest             time.Duration
	reloads             []time.Duration // SIGHUP → "reload complete"
	replace             time.Duration   // kill -9 → the slot's new worker ready
	stop                time.Duration   // SIGTERM → drover's exit
	stopCode            int
	termReqs, termFails int // during the SIGTERM phase: requests, and those that failed after the signal
}

var (
	resultsMu sync.Mutex
	results   = map[string]*result{}
)

func record(name string, r *result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results[name] = r
}

// printResults prints the report after the run, for .ci/run's log.
func printResults() {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	fmt.Printf("\ncompat: %d keep-alive connections for %s with two SIGHUP reloads and a kill -9 (lost: requests in flight in the killed worker);\nstart: to both workers ready; reloads: SIGHUP to \"reload complete\"; kill -9: to the replacement ready; stop: SIGTERM under load to exit; all in ms\n", loadConns, loadTime)
	fmt.Printf("%-12s %6s %9s %6s %5s %7s %8s %11s %8s %6s %5s\n", "server", "start", "requests", "failed", "lost", "req/s", "slowest", "reloads", "kill -9", "stop", "exit")
	for _, name := range append(append([]string(nil), servers...), "node-example") {
		r := results[name]
		if r == nil {
			continue
		}
		var rl []string
		for _, d := range r.reloads {
			rl = append(rl, fmt.Sprintf("%.0f", msf(d)))
		}
		fmt.Printf("%-12s %6.0f %9d %6d %5d %7.0f %8.0f %11s %8.0f %6.0f %5d\n", name, msf(r.start), r.requests, r.failures, r.lost, r.rps,
			msf(r.slowest), strings.Join(rl, " "), msf(r.replace), msf(r.stop), r.stopCode)
	}
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadPage parses the page once per test.
func loadPage(t *testing.T) *page {
	t.Helper()
	p, err := parsePage(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// prepare writes a group's files into a new directory (a group with none
// borrows its base's: "uvicorn-port" uses uvicorn's, hypercorn the ASGI app
// of uvicorn), links the npm servers in, lets edit change the files, then
// runs the group's build blocks there.
func prepare(t *testing.T, p *page, g *group, edit func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	src := g
	for _, name := range []string{baseName(g.name), borrow[baseName(g.name)]} {
		if len(src.files) == 0 && p.groups[name] != nil {
			src = p.groups[name]
		}
	}
	for name, text := range src.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(nodeModules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(dir)
	}
	for _, b := range src.build {
		runBuild(t, dir, b)
	}
	return dir
}

// borrow names the server whose files a server without its own uses.
var borrow = map[string]string{"hypercorn": "uvicorn"}

// runBuild runs a build block's lines in dir, with the test's own
// environment (Go is on its PATH).
func runBuild(t *testing.T, dir string, b block) {
	t.Helper()
	cmd := exec.Command("sh", "-ec", b.text)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s line %d: %v\n%s", docPath, b.line, err, out)
	}
}

// baseName is the server a trap group borrows its files from:
// "uvicorn-port" → "uvicorn".
func baseName(name string) string {
	base, _, _ := strings.Cut(name, "-")
	return base
}

// TestPage checks the page's shape: every server has its files and a run
// line, every install block names what is installed, every excerpt is in
// its file.
func TestPage(t *testing.T) {
	p := loadPage(t)
	for _, name := range servers {
		g := p.groups[name]
		if g == nil || g.run == nil {
			t.Errorf("%s: the page has no run block for %s", docPath, name)
			continue
		}
		if commandLine(*g.run) == "" {
			t.Errorf("%s line %d: a run block is one command line", docPath, g.run.line)
		}
		if len(g.install) == 0 && name != "go" && name != "node" {
			t.Errorf("%s: %s has no install block", docPath, name)
		}
	}
	for _, g := range p.groups {
		for _, b := range g.install {
			checkInstall(t, b)
		}
		for _, b := range g.excerpt {
			path := strings.TrimPrefix(b.role, "excerpt:")
			src, err := os.ReadFile(filepath.Join(repoRoot, path))
			if err != nil {
				t.Errorf("%s line %d: %v", docPath, b.line, err)
			} else if !strings.Contains(string(src), b.text) {
				t.Errorf("%s line %d: this excerpt is not in %s word for word", docPath, b.line, path)
			}
		}
		if len(g.logs) > 0 && len(g.traps) == 0 {
			t.Errorf("%s line %d: log lines for %s, which runs nothing", docPath, g.logs[0].line, g.name)
		}
	}
}

// TestServers runs each server as the page shows it, one after the other
// (the latency bound needs the machine to itself): both workers answer;
// under 32 keep-alive connections for 10 s, two SIGHUP reloads and a
// kill -9 of a worker fail no request and hold none for a second; then
// SIGTERM under the same load ends drover with 0 within its stop timeout.
func TestServers(t *testing.T) {
	p := loadPage(t)
	for _, name := range servers {
		t.Run(name, func(t *testing.T) {
			g := p.groups[name]
			if g == nil || g.run == nil {
				t.Fatalf("%s has no run block for %s", docPath, name)
			}
			for _, b := range g.install {
				checkInstall(t, b)
			}
			if t.Failed() {
				t.FailNow()
			}
			dir := prepare(t, p, g, nil)
			record(name, exercise(t, name, dir, commandLine(*g.run)))
		})
	}
}

// exercise runs one server through the checks and returns its numbers.
func exercise(t *testing.T, name, dir, line string) *result {
	r := &result{}
	t0 := time.Now()
	d := startLine(t, dir, line, freePort(t))
	pids := d.waitReady(startBound)
	r.start = time.Since(t0)
	if _, err := d.slots(2, pids, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	// Reloads and a kill -9 under load.
	l := startLoad(fmt.Sprintf("http://127.0.0.1:%d/", d.port), loadConns)
	time.Sleep(time.Second) // let every connection be established and busy: the reload must not find an idle pool
	var events []string
	var reloading [][2]time.Duration // SIGHUP → "reload complete", on the load's clock
	for i := 1; i <= 2; i++ {
		h, at := time.Now(), l.elapsed()
		events = append(events, fmt.Sprintf("SIGHUP at %s", ms(at)))
		d.signal(syscall.SIGHUP)
		if _, err := d.awaitLog(`reload complete`, i, reloadBound); err != nil {
			l.finish()
			t.Fatalf("reload %d: %v", i, err)
		}
		r.reloads = append(r.reloads, time.Since(h))
		reloading = append(reloading, [2]time.Duration{at, l.elapsed()})
	}
	pids = d.waitReady(startBound)
	victim := pids[0]
	k := time.Now()
	killAt := l.elapsed()
	events = append(events, fmt.Sprintf("kill -9 at %s", ms(killAt)))
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", victim, err)
	}
	r.replace = waitReplaced(t, d, 0, victim)
	for l.elapsed() < loadTime || time.Since(k) < time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	all := l.finish()
	// A request the killed worker was answering when it died is lost: its
	// connection is reset. A client retries a GET that was sent on a reused
	// keep-alive connection (Go's, and so hey's, transport does), so such
	// losses show only where the server closes every connection after one
	// answer (hypercorn 0.13 on Debian). They are counted apart; every other
	// failure fails the test.
	//
	// A server in dropsAtStop loses requests its old worker had accepted
	// when a reload stopped it; those are counted apart too, and only
	// while a reload ran.
	var lost, rest []sample
	for _, x := range all {
		switch {
		case x.err != "" && x.at <= killAt && x.at+x.took >= killAt:
			lost = append(lost, x)
		case x.err != "" && dropsAtStop[name] != "" && during(x, reloading):
			lost = append(lost, x)
		default:
			rest = append(rest, x)
		}
	}
	s := summarize(rest, 0, time.Hour)
	r.requests, r.failures, r.rps, r.slowest, r.lost = s.requests+len(lost), s.failures, s.rps, s.slowest, len(lost)
	t.Logf("%s: %s; reloads took %v, the kill -9's replacement was ready after %s: %s; lost (in flight in the killed worker, or %s): %s", line, strings.Join(events, ", "), r.reloads, ms(r.replace), s, or(dropsAtStop[name], "-"), summarize(lost, 0, time.Hour))
	if s.failures > 0 {
		t.Errorf("%d of %d requests failed during two reloads and a kill -9: %s", s.failures, s.requests, s)
	}
	if len(lost) > 3*loadConns {
		t.Errorf("%d requests lost at the kill -9 and the stops, more than the %d connections could have had in flight", len(lost), 3*loadConns)
	}
	if s.slowest >= slowBound {
		t.Errorf("a request took %s during two reloads and a kill -9 (bound %s): %s", ms(s.slowest), ms(slowBound), s)
	}
	if s.requests < 100 {
		t.Errorf("only %d requests in %s: the load did not run", s.requests, loadTime)
	}
	stopUnderLoad(t, d, r)
	return r
}

// dropsAtStop names the servers that drop, on SIGTERM, connections they
// have accepted but not begun to answer, and why.
var dropsAtStop = map[string]string{
	// On SIGTERM it stops waiting for the connections asyncio has
	// accepted whose handler has not started yet; with a new connection
	// per request (its keep-alive does not work with Debian's h11 0.14)
	// there are always some.
	"hypercorn": "hypercorn 0.13 waits on SIGTERM only for connections whose handler has started",
}

// during reports whether a failed request ended inside one of the
// windows.
func during(x sample, windows [][2]time.Duration) bool {
	for _, w := range windows {
		if end := x.at + x.took; end >= w[0] && end <= w[1] {
			return true
		}
	}
	return false
}

// waitReplaced waits until slot has a ready worker other than old, and
// returns how long that took. /status has no event to wait on.
func waitReplaced(t *testing.T, d *drover, slot, old int) time.Duration {
	t.Helper()
	t0 := time.Now()
	for time.Since(t0) < startBound {
		if s, err := d.status(); err == nil {
			for _, w := range s.Workers {
				if w.ID == slot && w.Pid != old && w.Ready {
					return time.Since(t0)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("slot %d: no ready worker replaced pid %d within %s", slot, old, startBound)
	return 0
}

// stopUnderLoad sends SIGTERM while 32 keep-alive connections are busy and
// checks that drover ends with 0 inside its stop timeout, no worker
// SIGKILLed.
func stopUnderLoad(t *testing.T, d *drover, r *result) {
	t.Helper()
	l := startLoad(fmt.Sprintf("http://127.0.0.1:%d/", d.port), loadConns)
	for l.elapsed() < 2*time.Second || l.count() < loadConns {
		if l.elapsed() > 20*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	at := l.elapsed()
	s0 := time.Now()
	d.signal(syscall.SIGTERM)
	code := d.wait(stopTimeout + 10*time.Second)
	r.stop, r.stopCode = time.Since(s0), code
	all := l.finish()
	// Requests answered before the signal must all have succeeded; those in
	// flight at the signal or sent after it are counted, not judged: with
	// no DROVER_DRAIN_DELAY, connections still in the kernel's queue when
	// the last worker closes the socket are reset, and new ones refused.
	var done, spanning []sample
	for _, x := range all {
		if x.at+x.took < at {
			done = append(done, x)
		} else {
			spanning = append(spanning, x)
		}
	}
	before := summarize(done, 0, at)
	after := summarize(spanning, 0, time.Hour)
	r.termReqs, r.termFails = before.requests+after.requests, after.failures
	t.Logf("SIGTERM under load: exit %d after %s; answered before the signal: %s; in flight at it or sent after: %s", code, ms(r.stop), before, after)
	if code != 0 {
		t.Errorf("drover exited %d after SIGTERM under keep-alive load, want 0", code)
	}
	if n := d.count(`did not stop in time`); n > 0 {
		t.Errorf("%d workers did not stop in time and were SIGKILLed", n)
	}
	if r.stop >= stopTimeout {
		t.Errorf("stopping took %s, the stop timeout is %s", ms(r.stop), ms(stopTimeout))
	}
	if before.failures > 0 {
		t.Errorf("requests failed before SIGTERM was sent: %s", before)
	}
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
