package e2e

// A rolling reload of Python workers that take a second to import their
// app, under load: with the default readiness (listening) each slot is
// replaced only once its new worker listens, so no request fails or waits
// long; with DROVER_READY=started both are replaced at once and requests
// wait for the imports (the control that shows the test can fail).

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// latencyLoad makes one HTTP/1.0 request per connection from conc
// goroutines and records each one's time and every failure.
type latencyLoad struct {
	mu    sync.Mutex
	lat   []time.Duration
	slow  []time.Time // when the requests that took 900ms or more began
	fails map[string]int
	first map[string]string
	stop  chan struct{}
	wg    sync.WaitGroup
	n     atomic.Int64
}

func startLoad(url string, conc int) *latencyLoad {
	l := &latencyLoad{fails: map[string]int{}, first: map[string]string{}, stop: make(chan struct{})}
	network, addr := splitURL(url)
	for g := 0; g < conc; g++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(1+g))}}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.one(&d, network, addr)
			}
		}()
	}
	return l
}

func (l *latencyLoad) one(d *net.Dialer, network, addr string) {
	t0 := time.Now()
	err := func() error {
		c, err := d.Dial(network, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		if err == nil && !workerRx.Match(b) {
			err = errors.New("bad answer " + string(b))
		}
		return err
	}()
	took := time.Since(t0)
	l.n.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		kind := "other"
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			kind = "refused"
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			kind = "reset"
		case errors.Is(err, io.EOF):
			kind = "eof"
		}
		l.fails[kind]++
		if l.first[kind] == "" {
			l.first[kind] = err.Error()
		}
		return
	}
	l.lat = append(l.lat, took)
	if took >= 900*time.Millisecond {
		l.slow = append(l.slow, t0)
	}
}

// end stops the load and returns the latencies, sorted.
func (l *latencyLoad) end() []time.Duration {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
	return l.lat
}

func TestReadyReloadUnderLoad(t *testing.T) {
	py := readyPython(t)
	for _, mode := range []string{"listening", "started"} {
		t.Run(mode, func(t *testing.T) {
			env := []string{"DROVER_WORKERS=2", "READY_SLEEP=1", "DROVER_READY=" + mode}
			d, url := startReady(t, opts{env: env}, py, testdata("ready/server.py"))
			if mode == "listening" {
				d.waitLog(listensRx, 2, 30*time.Second)
			} else {
				distinctPids(t, url, 2) // both import their app
			}
			load := startLoad(url, 8)
			time.Sleep(500 * time.Millisecond) // load before the reload: a fixed window, not a wait for an event
			began := time.Now()
			var events []string // when the test saw each step, for a slow request's context
			step := func(re string, n int, what string) {
				d.waitLog(re, n, 30*time.Second)
				events = append(events, fmt.Sprintf("%s +%v", what, time.Since(began).Round(time.Millisecond)))
			}
			for r := 1; r <= 2; r++ {
				d.signal(syscall.SIGHUP)
				for s := 2*r - 1; s <= 2*r; s++ {
					step(`worker started worker=`, 2+s, fmt.Sprintf("replacement %d started", s))
					step(`worker replaced worker=`, s, fmt.Sprintf("replacement %d ready", s))
				}
				step(`reload complete`, r, fmt.Sprintf("reload %d complete", r))
			}
			reload := time.Since(began)
			time.Sleep(500 * time.Millisecond) // load after it, likewise
			lat := load.end()
			if len(lat) == 0 {
				t.Fatalf("no request succeeded; failures %v", load.fails)
			}
			slowest, p99 := lat[len(lat)-1], lat[len(lat)*99/100]
			slow := 0
			for _, l := range lat {
				if l >= 900*time.Millisecond {
					slow++
				}
			}
			t.Logf("%s: %d requests took 900ms or more; the 5 slowest %v", mode, slow, lat[max(0, len(lat)-5):])
			if slow > 0 {
				var at []string
				for _, s := range load.slow {
					at = append(at, "+"+s.Sub(began).Round(time.Millisecond).String())
				}
				t.Logf("%s: the slow requests began at %v; the reloads: %v", mode, at, events)
			}
			t.Logf("%s: 2 reloads in %v; %d requests ok, failures %v %v; p99 %v, max %v",
				mode, reload.Round(time.Millisecond), len(lat), load.fails, load.first, p99.Round(time.Millisecond), slowest.Round(time.Millisecond))
			switch mode {
			case "listening":
				if len(load.fails) != 0 {
					t.Errorf("failed requests during the reloads: %v (%v)", load.fails, load.first)
				}
				if slowest >= time.Second {
					t.Errorf("a request waited %v during the reloads, want under 1s", slowest)
				}
			case "started":
				// Both workers replaced at once by workers that import for 1s:
				// requests wait that long. If not, the test proves nothing.
				if slowest < 800*time.Millisecond {
					t.Errorf("started mode: slowest request %v; the reload should have left nobody accepting for ~1s", slowest)
				}
			}
			d.stop()
		})
	}
}
