package main

// What the health tests share. They are black-box: the real drover binary
// with a real pool, asked over real HTTP. Workers are this test binary in
// hz-worker mode (health_helpers_test.go), steered through files in
// $HZ_DIR. The tests are in health_*_test.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// hzDrover is a drover under test with its health server.
type hzDrover struct {
	*proc
	addr string // host:port the health server bound
	dir  string // HZ_DIR, the workers' trigger files
}

// hzWorkerArgs runs this test binary as an hz-worker. DROVER_TEST_HELPER is
// set through env(1) because drover rejects DROVER_* names it does not know.
func hzWorkerArgs() []string {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return []string{"env", "DROVER_TEST_HELPER=hz-worker", self}
}

// startHealth runs drover as PID 1 with its health server on a port the
// kernel picks, read back from drover's log, so parallel tests never race
// for a port.
func startHealth(t *testing.T, env []string, args ...string) *hzDrover {
	t.Helper()
	dir := t.TempDir()
	env = append([]string{"DROVER_HEALTH_ADDR=127.0.0.1:0", "HZ_DIR=" + dir, hzGorace}, env...)
	p := startDrover(t, runOpts{pidns: true, env: env}, args...)
	p.waitLog(`health server listening addr=`, 1, 10*time.Second)
	rx := regexp.MustCompile(`health server listening addr=(\S+)`)
	for _, l := range p.lines() {
		if m := rx.FindStringSubmatch(l); m != nil {
			return &hzDrover{proc: p, addr: m[1], dir: dir}
		}
	}
	t.Fatal("unreachable: the line was just seen")
	return nil
}

// hzGorace keeps the harness's race settings but drops the race runtime's
// 1 s sleep at exit, which drover and every worker would each pay on every
// stop; races are still reported, and still end the process with 66.
const hzGorace = "GORACE=halt_on_error=1 exitcode=66 atexit_sleep_ms=0"

var hzHTTP = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil}}

func hzTryGet(url string) (int, string, error) {
	resp, err := hzHTTP.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// get asks the health server; only for the test's own goroutine.
func (d *hzDrover) get(path string) (int, string) {
	d.t.Helper()
	code, body, err := hzTryGet("http://" + d.addr + path)
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	return code, body
}

func (d *hzDrover) expect(path string, code int, body string) {
	d.t.Helper()
	if c, b := d.get(path); c != code || b != body {
		d.t.Errorf("GET %s = %d %q, want %d %q", path, c, b, code, body)
	}
}

// hzStatus is /status as the design documents it, decoded strictly so that
// a renamed or added field fails here before it breaks a user's parser.
type hzStatus struct {
	Version  string `json:"version"`
	Desired  int    `json:"desired"`
	Ready    int    `json:"ready"`
	MinReady int    `json:"min_ready"`
	Draining bool   `json:"draining"`
	CPU      struct {
		Cores  float64 `json:"cores"`
		Exact  string  `json:"exact"`
		Source string  `json:"source"`
		Reason string  `json:"reason"`
	} `json:"cpu"`
	Workers []struct {
		ID         int       `json:"id"`
		Pid        int       `json:"pid"`
		Generation int       `json:"generation"`
		State      string    `json:"state"`
		Ready      bool      `json:"ready"`
		Restarts   int       `json:"restarts"`
		Started    time.Time `json:"started"`
		LastExit   string    `json:"last_exit"`
		Status     string    `json:"status"`
		RSS        int64     `json:"rss_bytes"`
		CPUSeconds float64   `json:"cpu_seconds"`
	} `json:"workers"`
	Restarts map[string]uint64 `json:"restarts"`
	Orphans  uint64            `json:"orphans_reaped"`
	Signals  map[string]uint64 `json:"signals_forwarded"`
	Started  time.Time         `json:"started"`
	Time     time.Time         `json:"time"`
}

func (d *hzDrover) status() hzStatus {
	d.t.Helper()
	code, body := d.get("/status")
	if code != http.StatusOK {
		d.t.Fatalf("GET /status = %d %q", code, body)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var s hzStatus
	if err := dec.Decode(&s); err != nil {
		d.t.Fatalf("/status does not match the documented schema: %v\n%s", err, body)
	}
	return s
}

// waitStatus polls /status until ok holds.
func (d *hzDrover) waitStatus(what string, timeout time.Duration, ok func(hzStatus) bool) hzStatus {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := d.status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out after %s waiting for %s; /status: %+v", timeout, what, s)
		}
		time.Sleep(20 * time.Millisecond) // polling HTTP: drover pushes nothing
	}
}

func hzReadyIs(n int) func(hzStatus) bool { return func(s hzStatus) bool { return s.Ready == n } }

// infos waits until n hz-workers have started and returns what each saw,
// by pid (as seen inside drover's PID namespace).
func (d *hzDrover) infos(n int) map[int]map[string]string {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := map[int]map[string]string{}
		files, _ := filepath.Glob(filepath.Join(d.dir, "info.*"))
		for _, f := range files {
			if strings.HasSuffix(f, ".tmp") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			kv := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				k, v, _ := strings.Cut(l, "=")
				kv[k] = v
			}
			pid, _ := strconv.Atoi(kv["pid"])
			out[pid] = kv
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("only %d of %d workers started", len(out), n)
		}
		time.Sleep(10 * time.Millisecond) // polling files: no event to wait on
	}
}

// trigger drops a file for the worker with pid (namespace pid) to act on.
func (d *hzDrover) trigger(name string, pid int, content string) {
	hzWriteFile(filepath.Join(d.dir, name+"."+strconv.Itoa(pid)), content)
}

// notifyFrom makes the worker with pid send msg to NOTIFY_SOCKET.
func (d *hzDrover) notifyFrom(pid int, msg string) { d.trigger("send", pid, msg) }

// stop sends SIGTERM and expects drover to exit 0.
func (d *hzDrover) stop() {
	d.t.Helper()
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != 0 {
		d.settleLog()
		d.t.Fatalf("drover exited %d after SIGTERM, want 0", code)
	}
}

// settleLog gives the log reader a moment to collect drover's last lines
// (a panic, a race report) before a failure prints the log.
func (d *hzDrover) settleLog() {
	for {
		select {
		case <-d.more:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// metrics scrapes /metrics and parses it as Prometheus does.
func (d *hzDrover) metrics() map[string]*dto.MetricFamily {
	d.t.Helper()
	code, body := d.get("/metrics")
	if code != http.StatusOK {
		d.t.Fatalf("GET /metrics = %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		d.t.Fatalf("/metrics is not valid Prometheus text: %v\n%s", err, body)
	}
	return mfs
}

// hzCanon writes the named families as sorted "TYPE" and sample lines,
// without HELP, so that expected values can be written out as text and
// compared whole, as client_golang's testutil does.
func hzCanon(mfs map[string]*dto.MetricFamily, names ...string) string {
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

// hzSample is the value of name{label=value}, or fails the test.
func hzSample(t *testing.T, mfs map[string]*dto.MetricFamily, name, label, value string) float64 {
	t.Helper()
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no sample %s{%s=%q}", name, label, value)
	return 0
}

func hzExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
