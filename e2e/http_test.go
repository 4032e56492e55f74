package e2e

// HTTP in both directions drover serves: its health server (/status,
// /metrics, probes) and the workers behind the sockets it listens on.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// httpClient never goes through a proxy and never waits long.
var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil}}

// tryGet is one GET: status code and body, or the error.
func tryGet(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// get asks the health server; only for the test's own goroutine.
func (d *drover) get(path string) (int, string) {
	d.t.Helper()
	code, body, err := tryGet("http://" + d.addr + path)
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	return code, body
}

func (d *drover) expect(path string, code int, body string) {
	d.t.Helper()
	if c, b := d.get(path); c != code || b != body {
		d.t.Errorf("GET %s = %d %q, want %d %q", path, c, b, code, body)
	}
}

// statusDoc is /status as the design documents it, decoded strictly so that
// a renamed or added field fails here before it breaks a user's parser.
type statusDoc struct {
	Version  string `json:"version"`
	Desired  int    `json:"desired"`
	Ready    int    `json:"ready"`
	MinReady int    `json:"min_ready"`
	Draining bool   `json:"draining"`
	CPU      struct {
		Cores      float64 `json:"cores"`
		Exact      string  `json:"exact"`
		Source     string  `json:"source"`
		Changes    uint64  `json:"changes"`
		LastChange *struct {
			Time   time.Time `json:"time"`
			From   float64   `json:"from_cores"`
			To     float64   `json:"to_cores"`
			Source string    `json:"source"`
		} `json:"last_change"`
		Reason string `json:"reason"`
	} `json:"cpu"`
	Workers []struct {
		ID              int       `json:"id"`
		Pid             int       `json:"pid"`
		Generation      int       `json:"generation"`
		State           string    `json:"state"`
		Ready           bool      `json:"ready"`
		Restarts        int       `json:"restarts"`
		Started         time.Time `json:"started"`
		LastExit        string    `json:"last_exit"`
		Status          string    `json:"status"`
		RSS             int64     `json:"rss_bytes"`
		CPUSeconds      float64   `json:"cpu_seconds"`
		CPUSecondsTotal float64   `json:"cpu_seconds_total"`
	} `json:"workers"`
	Restarts map[string]uint64 `json:"restarts"`
	Orphans  uint64            `json:"orphans_reaped"`
	Signals  map[string]uint64 `json:"signals_forwarded"`
	Started  time.Time         `json:"started"`
	Time     time.Time         `json:"time"`
}

func (d *drover) status() statusDoc {
	d.t.Helper()
	code, body := d.get("/status")
	if code != http.StatusOK {
		d.t.Fatalf("GET /status = %d %q", code, body)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var s statusDoc
	if err := dec.Decode(&s); err != nil {
		d.t.Fatalf("/status does not match the documented schema: %v\n%s", err, body)
	}
	return s
}

// waitStatus asks /status until ok holds; drover pushes nothing.
func (d *drover) waitStatus(what string, timeout time.Duration, ok func(statusDoc) bool) statusDoc {
	d.t.Helper()
	return eventually(d.t, timeout, what, func() (statusDoc, bool) {
		s := d.status()
		return s, ok(s)
	})
}

// readyIs is waitStatus's condition "n workers ready".
func readyIs(n int) func(statusDoc) bool { return func(s statusDoc) bool { return s.Ready == n } }

// metrics scrapes /metrics and parses it as Prometheus does.
func (d *drover) metrics() map[string]*dto.MetricFamily {
	d.t.Helper()
	code, body := d.get("/metrics")
	if code != http.StatusOK {
		d.t.Fatalf("GET /metrics = %d\n%s", code, body)
	}
	return parseMetrics(d.t, body)
}

// parseMetrics parses a /metrics answer as Prometheus does.
func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v\n%s", err, body)
	}
	return mfs
}

// canonMetrics writes the named families as sorted "TYPE" and sample lines,
// without HELP, so that expected values can be written out as text and
// compared whole, as client_golang's testutil does.
func canonMetrics(mfs map[string]*dto.MetricFamily, names ...string) string {
	var b strings.Builder
	for _, name := range names {
		mf := mfs[name]
		if mf == nil {
			fmt.Fprintf(&b, "# %s missing\n", name)
			continue
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", name, strings.ToLower(mf.GetType().String()))
		var lines []string
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			v := m.GetGauge().GetValue()
			if mf.GetType() == dto.MetricType_COUNTER {
				v = m.GetCounter().GetValue()
			}
			l := name
			if len(labels) > 0 {
				l += "{" + strings.Join(labels, ",") + "}"
			}
			lines = append(lines, l+" "+strconv.FormatFloat(v, 'g', -1, 64))
		}
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return b.String()
}

// metricValue is the value of name{label=value} (of name without labels
// when label is ""), or fails the test.
func metricValue(t *testing.T, mfs map[string]*dto.MetricFamily, name, label, value string) float64 {
	t.Helper()
	v, ok := metricSample(mfs, name, label, value)
	if !ok {
		t.Fatalf("no sample %s", series(name, label, value))
	}
	return v
}

// metricSample is metricValue for a sample that may not exist yet.
func metricSample(mfs map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		match := label == "" && len(m.GetLabel()) == 0
		for _, l := range m.GetLabel() {
			match = match || l.GetName() == label && l.GetValue() == value
		}
		if match {
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// series names a sample as /metrics writes it: name{label="value"}.
func series(name, label, value string) string {
	if label == "" {
		return name
	}
	return fmt.Sprintf("%s{%s=%q}", name, label, value)
}

// healthAnswer is one poll of /readyz or /livez.
type healthAnswer struct {
	at   time.Time // when the answer came: latencies measured from it are upper bounds
	code int       // 0: no answer
}

// pollHealth asks path every 10 ms, as a fast kubelet would, until stop.
func pollHealth(addr, path string, stop <-chan struct{}) <-chan []healthAnswer {
	out := make(chan []healthAnswer, 1)
	go func() {
		var ps []healthAnswer
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			code, _, _ := tryGet("http://" + addr + path)
			ps = append(ps, healthAnswer{time.Now(), code})
			select {
			case <-stop:
				out <- ps
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// boundAddrs waits for drover's "listening" line and returns name → address
// ("tcp://127.0.0.1:41234", "unix:///tmp/x.sock").
func boundAddrs(t *testing.T, p *drover) map[string]string {
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
	var body string
	eventually(t, 10*time.Second, "GET "+url+path, func() (string, bool) {
		var err error
		if body, err = get(network, addr, path, 5*time.Second); err != nil {
			return err.Error(), false
		}
		return "", true
	})
	return body
}

var pidRx = regexp.MustCompile(`pid[= ](\d+)`)

// distinctPids requests url until want different pids have answered, and
// returns how many answers each gave.
func distinctPids(t *testing.T, url string, want int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	return eventually(t, 20*time.Second, fmt.Sprintf("%d distinct pids to answer on %s", want, url), func() (map[string]int, bool) {
		body := getURL(t, url, "/")
		m := pidRx.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("answer without a pid: %q", body)
		}
		seen[m[1]]++
		return seen, len(seen) >= want
	})
}
