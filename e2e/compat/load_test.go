package compat

// The load: what `hey -z 10s -c 32 URL` does — 32 goroutines sharing one
// keep-alive http.Client (hey's own transport settings), each sending GET
// after GET until told to stop — with every request's start, duration and
// error kept, so a failure or a slow request can be placed against the
// signals the test sent.

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// sample is one request: when it started (from the load's start), how long
// it took, and why it failed ("" when it got a 200).
type sample struct {
	at, took time.Duration
	err      string
}

// load is a running client loop.
type load struct {
	url   string
	begin time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	all   []sample
}

// startLoad starts conc client loops against url. Like hey, they share one
// transport that keeps up to conc idle connections, and a request may wait
// at most 20 s.
func startLoad(url string, conc int) *load {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: conc,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	l := &load{url: url, begin: time.Now(), stop: make(chan struct{})}
	for range conc {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.one(client)
			}
		}()
	}
	go func() {
		l.wg.Wait()
		tr.CloseIdleConnections()
	}()
	return l
}

func (l *load) one(client *http.Client) {
	t0 := time.Now()
	s := sample{at: t0.Sub(l.begin)}
	resp, err := client.Get(l.url)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
	}
	s.took = time.Since(t0)
	if err != nil {
		s.err = err.Error()
	}
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
}

// elapsed is the time since the load started.
func (l *load) elapsed() time.Duration { return time.Since(l.begin) }

// count is the number of requests finished so far.
func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// finish stops sending and waits for the requests in flight.
func (l *load) finish() []sample {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all
}

// summary is what the suite reports of a load.
type summary struct {
	requests, failures int
	slowest            time.Duration
	slowestAt          time.Duration
	rps                float64
	errors             map[string]int // error text (addresses cut) → count
	slow               []sample       // the requests that took 1 s or more
	failed             []sample       // the first failures
}

// summarize counts the samples that started in [from, to).
func summarize(all []sample, from, to time.Duration) summary {
	s := summary{errors: map[string]int{}}
	var first, last time.Duration = -1, 0
	for _, x := range all {
		if x.at < from || x.at >= to {
			continue
		}
		s.requests++
		if first < 0 || x.at < first {
			first = x.at
		}
		if end := x.at + x.took; end > last {
			last = end
		}
		if x.err != "" {
			s.failures++
			s.errors[shortErr(x.err)]++
			s.failed = append(s.failed, x)
		}
		if x.took > s.slowest {
			s.slowest, s.slowestAt = x.took, x.at
		}
		if x.took >= time.Second {
			s.slow = append(s.slow, x)
		}
	}
	if last > first && first >= 0 {
		s.rps = float64(s.requests) / (last - first).Seconds()
	}
	sort.Slice(s.slow, func(i, j int) bool { return s.slow[i].at < s.slow[j].at })
	sort.Slice(s.failed, func(i, j int) bool { return s.failed[i].at < s.failed[j].at })
	return s
}

// shortErr drops the parts of an error that differ per request (the
// client's port), so equal causes count together.
func shortErr(e string) string {
	f := strings.Fields(e)
	for i, w := range f {
		if strings.Count(w, ".") == 3 && strings.Contains(w, ":") {
			f[i] = "ADDR"
		}
		if strings.HasPrefix(w, "127.0.0.1:") {
			f[i] = "ADDR"
		}
	}
	return strings.Join(f, " ")
}

// String lists the error causes and the slow requests for a failure message.
func (s summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d failed, slowest %s (started at %s)", s.requests, s.failures, ms(s.slowest), ms(s.slowestAt))
	for e, n := range s.errors {
		fmt.Fprintf(&b, "\n  %d× %s", n, e)
	}
	for i, x := range s.failed {
		if i == 5 {
			fmt.Fprintf(&b, "\n  … %d more failures", len(s.failed)-5)
			break
		}
		fmt.Fprintf(&b, "\n  failed: started at %s, after %s: %s", ms(x.at), ms(x.took), shortErr(x.err))
	}
	for i, x := range s.slow {
		if i == 10 {
			fmt.Fprintf(&b, "\n  … %d more slow requests", len(s.slow)-10)
			break
		}
		fmt.Fprintf(&b, "\n  slow: started at %s, took %s %s", ms(x.at), ms(x.took), x.err)
	}
	return b.String()
}

// ms prints a duration in milliseconds, the unit of every number reported.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
