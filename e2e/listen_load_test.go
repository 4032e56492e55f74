package e2e

// Load on the inherited sockets: how the kernel spreads new connections
// over the workers, and that killing a worker under load costs only the
// connections that worker had already accepted.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loadClient makes new connections with one HTTP/1.0 request each, from
// several goroutines, and counts what happened.
type loadClient struct {
	url string

	ok   atomic.Int64
	mu   sync.Mutex
	per  map[string]int      // answers per worker id
	errs map[string][]string // kind → client addresses of failed connections
	msgs map[string]string   // kind → one example error
}

func newLoadClient(url string) *loadClient {
	return &loadClient{url: url, per: map[string]int{}, errs: map[string][]string{}, msgs: map[string]string{}}
}

var workerRx = regexp.MustCompile(`worker=(\d+)`)

// run sends until stop is closed or limit connections were made (0: no
// limit), over conc goroutines, each from its own loopback address so the
// run never runs short of ephemeral ports.
func (c *loadClient) run(conc, limit int, stop <-chan struct{}) {
	network, addr := splitURL(c.url)
	var made atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+g))}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if limit > 0 && made.Add(1) > int64(limit) {
					return
				}
				c.one(&d, network, addr)
			}
		}()
	}
	wg.Wait()
}

func (c *loadClient) one(d *net.Dialer, network, addr string) {
	conn, err := d.Dial(network, addr)
	if err != nil {
		c.fail("", err, true)
		return
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		c.fail(local, err, false)
		return
	}
	resp, err := io.ReadAll(conn)
	if err == nil && len(resp) == 0 {
		err = io.EOF
	}
	m := workerRx.FindSubmatch(resp)
	if err == nil && m == nil {
		err = fmt.Errorf("bad answer %q", resp)
	}
	if err != nil {
		c.fail(local, err, false)
		return
	}
	c.ok.Add(1)
	c.mu.Lock()
	c.per[string(m[1])]++
	c.mu.Unlock()
}

// fail sorts an error by kind. Only reset and EOF after connecting can be
// a dying worker's doing; refused never is while drover holds the socket.
func (c *loadClient) fail(local string, err error, dialing bool) {
	kind := "other"
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		kind = "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = "eof"
	case errors.As(err, &ne) && ne.Timeout():
		kind = "timeout"
	}
	if dialing {
		kind = "dial " + kind
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs[kind] = append(c.errs[kind], local)
	if _, ok := c.msgs[kind]; !ok {
		c.msgs[kind] = err.Error()
	}
}

// excused splits the failures into those of connections a killed worker
// had accepted and the rest.
func (c *loadClient) excused(accepted map[string]bool) (excused int, rest map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rest = map[string]int{}
	for kind, locals := range c.errs {
		for _, l := range locals {
			if (kind == "reset" || kind == "eof") && accepted[l] {
				excused++
			} else {
				rest[kind]++
			}
		}
	}
	return excused, rest
}

// acceptedBy freezes pid with SIGSTOP and lists the client addresses of
// the TCP connections it holds: exactly what it had accepted, since a
// stopped process accepts nothing more. The caller kills it next.
func acceptedBy(t *testing.T, pid int) map[string]bool {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", pid, err)
	}
	eventually(t, 5*time.Second, fmt.Sprintf("every thread of worker %d to stop", pid), func() ([]string, bool) {
		states := threadStates(pid)
		for _, st := range states {
			if st != "T" && st != "t" {
				return states, false
			}
		}
		return states, len(states) > 0
	})
	// Ask each socket itself for its peer, through a duplicate taken with
	// pidfd_getfd: /proc/net/tcp would be read for seconds once the load
	// has left tens of thousands of TIME_WAIT entries, while the frozen
	// worker's clients time out. Every duplicate is closed before the
	// kill, so the kill still closes the connections.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	out := map[string]bool{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		n, err := strconv.Atoi(e.Name())
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		fd, err := unix.PidfdGetfd(pidfd, n, 0)
		if err != nil {
			continue
		}
		sa, err := unix.Getpeername(fd)
		unix.Close(fd)
		if in4, ok := sa.(*unix.SockaddrInet4); ok && err == nil {
			out[net.JoinHostPort(net.IP(in4.Addr[:]).String(), strconv.Itoa(in4.Port))] = true
		}
	}
	return out
}

// threadStates are the state letters of pid's threads ("T" or "t" when
// stopped).
func threadStates(pid int) []string {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	var out []string
	for _, task := range tasks {
		if f := statFields(task); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// startPool runs n listen-http workers as PID 1 and waits until all serve.
func startPool(t *testing.T, n int, reuse bool) (*drover, string) {
	t.Helper()
	out := t.TempDir()
	p := start(t, opts{pidns: true, env: []string{
		"DROVER_LISTEN=127.0.0.1:0", "DROVER_WORKERS=" + strconv.Itoa(n), "DROVER_REUSEPORT=" + strconv.FormatBool(reuse),
	}}, workerArgs(t, "listen-http", "LISTEN_OUT="+out)...)
	url := boundAddrs(t, p)["tcp-0"]
	waitUp(t, out, n)
	return p, url
}

// Over 10,000 new connections to 4 workers, how many each one got. The
// numbers are logged; only reuseport promises that every worker gets some
// (the kernel hashes connections over the sockets), while a shared socket
// goes to whichever worker is first in accept.
func TestListenConnectionSpread(t *testing.T) {
	const workers, conns = 4, 10000
	for _, reuse := range []bool{false, true} {
		t.Run("reuseport="+strconv.FormatBool(reuse), func(t *testing.T) {
			p, url := startPool(t, workers, reuse)
			c := newLoadClient(url)
			start := time.Now()
			c.run(8, conns, nil)
			elapsed := time.Since(start)
			if _, rest := c.excused(nil); len(rest) > 0 {
				t.Errorf("failed connections: %v (e.g. %v)", rest, c.msgs)
			}
			var counts []string
			for id := 0; id < workers; id++ {
				n := c.per[strconv.Itoa(id)]
				counts = append(counts, fmt.Sprintf("worker %d: %d", id, n))
				if reuse && n == 0 {
					t.Errorf("worker %d got no connection with SO_REUSEPORT", id)
				}
			}
			t.Logf("reuseport=%v: %d connections in %s: %s", reuse, c.ok.Load(), elapsed.Round(time.Millisecond), strings.Join(counts, ", "))
			p.stop()
		})
	}
}

// Under a continuous loop of new connections, kill -9 of a worker (twice,
// two different workers) and its restart lose nothing but the connections
// that worker had already accepted: no refused connection, and no reset
// or EOF for a connection still queued, whether in the shared queue or in
// the killed slot's own SO_REUSEPORT queue, which drover keeps open for
// the restarted worker.
func TestListenKillUnderLoadLosesNoQueuedConnection(t *testing.T) {
	const workers = 4
	for _, reuse := range []bool{false, true} {
		t.Run("reuseport="+strconv.FormatBool(reuse), func(t *testing.T) {
			p, url := startPool(t, workers, reuse)
			c := newLoadClient(url)
			stopLoad := make(chan struct{})
			done := make(chan struct{})
			start := time.Now()
			go func() {
				defer close(done)
				c.run(8, 0, stopLoad)
			}()
			defer func() {
				select {
				case <-stopLoad:
				default:
					close(stopLoad)
				}
				<-done
			}()

			accepted := map[string]bool{}
			for i, slot := range []int{1, 2} {
				waitLoad(t, c, p, start.Add(time.Duration(700+800*i)*time.Millisecond), 500)
				p.waitLog(fmt.Sprintf(`worker started worker=%d `, slot), 1, 10*time.Second) // the log may lag
				pids := p.workerPids()[slot]
				victim := p.hostPid(pids[len(pids)-1])
				lost := acceptedBy(t, victim)
				syscall.Kill(victim, syscall.SIGKILL)
				for a := range lost {
					accepted[a] = true
				}
				t.Logf("killed worker %d (pid %d) at %s holding %d accepted connections",
					slot, victim, time.Since(start).Round(time.Millisecond), len(lost))
				p.waitLog(fmt.Sprintf(`worker started worker=%d `, slot), 2, 10*time.Second)
			}
			// Long enough after the second restart for its slot's queue to
			// be served, and ~2.5 s of load in all.
			waitLoad(t, c, p, start.Add(2500*time.Millisecond), 500)
			close(stopLoad)
			<-done

			excused, rest := c.excused(accepted)
			t.Logf("reuseport=%v: %d answered in %s, per worker %v; %d failed on connections the killed workers had accepted (%d held at the kills); other failures: %v",
				reuse, c.ok.Load(), time.Since(start).Round(time.Millisecond), c.per, excused, len(accepted), rest)
			for kind, n := range rest {
				t.Errorf("%d connections failed (%s) that no dying worker had accepted, e.g. %s", n, kind, c.msgs[kind])
			}
			if p.count(`worker started`) != workers+2 {
				t.Errorf("want %d worker starts (2 restarts):\n%s", workers+2, strings.Join(p.lines(), "\n"))
			}
			p.stop()
		})
	}
}

// waitLoad lets the load run until at and for n more answers at least.
func waitLoad(t *testing.T, c *loadClient, p *drover, at time.Time, n int64) {
	t.Helper()
	want := c.ok.Load() + n
	eventually(t, 10*time.Second, fmt.Sprintf("%d answers under load, and %s", want, at.Format(time.StampMilli)), func() (int64, bool) {
		p.alive("the load to go on")
		got := c.ok.Load()
		return got, got >= want && !time.Now().Before(at)
	})
}
