package health

import (
	"bytes"
	"context"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialAddr(t *testing.T) {
	tests := map[string]string{
		":8081":          "127.0.0.1:8081",
		"0.0.0.0:8081":   "127.0.0.1:8081",
		"[::]:8081":      "127.0.0.1:8081",
		"127.0.0.1:9":    "127.0.0.1:9",
		"[::1]:9":        "[::1]:9",
		"localhost:8081": "localhost:8081",
		"10.1.2.3:8081":  "10.1.2.3:8081",
	}
	for in, want := range tests {
		if got, err := DialAddr(in); err != nil || got != want {
			t.Errorf("DialAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"off", "8081", ""} {
		if _, err := DialAddr(bad); err == nil {
			t.Errorf("DialAddr(%q) = nil error", bad)
		}
	}
}

func TestProbe(t *testing.T) {
	ok := startServer(t, fakeSource{snap: pool(4, 4, 2)})
	failing := startServer(t, fakeSource{snap: pool(4, 1, 2)})
	_, okPort, _ := net.SplitHostPort(ok)

	for _, name := range []string{"livez", "readyz", "/readyz", "readyz/workers"} {
		if err := Probe(testCtx(t), ok, name); err != nil {
			t.Errorf("Probe(%s) = %v", name, err)
		}
	}
	// The configured listen address, as `drover probe` gets it from the env.
	if err := Probe(testCtx(t), ":"+okPort, "readyz"); err != nil {
		t.Errorf("Probe via :port = %v", err)
	}
	if err := Probe(testCtx(t), failing, "livez"); err != nil {
		t.Errorf("livez with dead workers = %v", err)
	}

	err := Probe(testCtx(t), failing, "readyz")
	if want := "readyz: 503 Service Unavailable: [-]workers failed: 1 of 4 workers ready, need 2"; err == nil || err.Error() != want {
		t.Errorf("Probe(readyz) = %v, want %q", err, want)
	}
	err = Probe(testCtx(t), ok, "readyz/nope")
	if err == nil || !strings.HasPrefix(err.Error(), `readyz/nope: 404 Not Found: no readyz check named "nope"`) {
		t.Errorf("Probe(readyz/nope) = %v", err)
	}

	// Nothing listening: a connection error, promptly.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if err := Probe(testCtx(t), closed, "livez"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Probe on a closed port = %v", err)
	}

	// A hung loop: /livez answers 503 itself, within the server's timeout.
	stuck := startServer(t, stuckSource{})
	err = Probe(testCtx(t), stuck, "livez")
	if err == nil || !strings.Contains(err.Error(), "[-]loop failed: supervision loop did not answer") {
		t.Errorf("Probe with a stuck loop = %v", err)
	}
}

func TestFetchStatus(t *testing.T) {
	want := sampleSnapshot()
	addr := startServer(t, fakeSource{snap: want})
	got, err := FetchStatus(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	want = want.normalized(time.Time{}, testNames)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}

	addr = startServer(t, stuckSource{})
	if _, err := FetchStatus(testCtx(t), addr); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("FetchStatus with a stuck loop = %v", err)
	}
}

func TestWriteTable(t *testing.T) {
	addr := startServer(t, fakeSource{snap: sampleSnapshot()})
	s, err := FetchStatus(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Workers[0].Status = "multi\nline\tstatus"
	var b bytes.Buffer
	if err := WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	const want = `ID  PID  STATE     READY  RESTARTS  UPTIME  RSS       CPU    LAST-EXIT       STATUS
0   41   ready     yes    0         3m12s   12.3 MiB  1.25s  -               multi line status
1   57   starting  no     2         4s      3.0 MiB   0.02s  signal SIGKILL  -
2   -    backoff   no     4         -       -         0.00s  exit 1          -
desired 3, ready 1/3 (need 2), draining no, cpu budget 1.5 from cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu (ceil(1.5) = 2, DROVER_WORKERS_PER_CPU=2), changed 1 → 1.5 1m0s ago (1 change), drover v1.2.3 up 3h0m
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The summary names the budget and its source once, whether the sizing
// reason already starts with them (auto) or not (a fixed DROVER_WORKERS).
func TestCPUSummary(t *testing.T) {
	const src = "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu"
	tests := []struct {
		cpu  CPU
		want string
	}{
		{CPU{Cores: 1.5, Source: src, Reason: "cpu budget 1.5 (" + src + "), rounding ceil"},
			"cpu budget 1.5 (" + src + "), rounding ceil"},
		{CPU{Cores: 1.5, Source: src, Reason: "DROVER_WORKERS=4"},
			"cpu budget 1.5 from " + src + " (DROVER_WORKERS=4)"},
		{CPU{Cores: 2}, "cpu budget 2"},
		{CPU{Cores: 2, Reason: "cpu budget 2 (x)", Changes: 3, LastChange: CPUChange{Time: time.Unix(100, 0), From: 1, To: 2}},
			"cpu budget 2 (x), changed 1 → 2 45s ago (3 changes)"},
	}
	for _, tt := range tests {
		got := cpuSummary(tt.cpu, time.Unix(145, 0))
		if got != tt.want {
			t.Errorf("cpuSummary(%+v) = %q, want %q", tt.cpu, got, tt.want)
		}
		if strings.Count(got, src) > 1 {
			t.Errorf("cpuSummary repeats the source: %q", got)
		}
	}
}

func TestHumanUnits(t *testing.T) {
	bytesTests := map[int64]string{0: "-", 512: "512 B", 1536: "1.5 KiB", 12_897_485: "12.3 MiB", 3 << 30: "3.0 GiB"}
	for n, want := range bytesTests {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	durTests := map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 192 * time.Second: "3m12s",
		5*time.Hour + 3*time.Minute + 9*time.Second: "5h3m", 52 * time.Hour: "2d4h",
	}
	for d, want := range durTests {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := humanCPU(125.5); got != "2m5s" {
		t.Errorf("humanCPU(125.5) = %q", got)
	}
}
