package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An empty or blank value is the same as not setting the variable.
func TestEmptyMeansUnset(t *testing.T) {
	for _, pool := range [][]string{nil, {"DROVER_WORKERS=2"}} {
		want, err := load(t, pool...)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range Vars() {
			for _, empty := range []string{"", "  "} {
				got, err := load(t, append([]string{v.Key + "=" + empty}, pool...)...)
				if err != nil {
					t.Errorf("%s=%q: %v", v.Key, empty, err)
				} else if !reflect.DeepEqual(got, want) {
					t.Errorf("%s=%q (with %v): got %+v, want %+v", v.Key, empty, pool, got, want)
				}
			}
		}
	}
}

func TestModeDefaults(t *testing.T) {
	info, warn, errLevel, debug := LogLevel(slog.LevelInfo), LogLevel(slog.LevelWarn), LogLevel(slog.LevelError), LogLevel(slog.LevelDebug)
	for _, tc := range []struct {
		name    string
		environ []string
		want    Settings // only the mode-dependent fields are compared
	}{
		{"plain init", nil, Settings{Pool: false, Workers: 1, Restart: Never, HealthAddr: "", HUP: Forward, LogLevel: warn, Ready: Started}},
		{"workers", []string{"DROVER_WORKERS=2"}, Settings{Pool: true, Workers: 2, Restart: Always, HealthAddr: DefaultHealthAddr, HUP: Reload, LogLevel: info, Ready: Started}},
		{"listen", []string{"DROVER_LISTEN=:0"}, Settings{Pool: true, Workers: Auto, Restart: Always, HealthAddr: ":8081", HUP: Reload, LogLevel: info, Ready: Listening}},
		{"empty listen is plain", []string{"DROVER_LISTEN="}, Settings{Pool: false, Workers: 1, Restart: Never, HealthAddr: "", HUP: Forward, LogLevel: warn, Ready: Started}},
		{"explicit wins in a pool", []string{"DROVER_WORKERS=auto", "DROVER_RESTART=never", "DROVER_HEALTH_ADDR=off", "DROVER_HUP=forward", "DROVER_LOG_LEVEL=error"},
			Settings{Pool: true, Workers: Auto, Restart: Never, HealthAddr: "", HUP: Forward, LogLevel: errLevel, Ready: Started}},
		{"explicit wins with sockets", []string{"DROVER_LISTEN=:0", "DROVER_READY=started"},
			Settings{Pool: true, Workers: Auto, Restart: Always, HealthAddr: ":8081", HUP: Reload, LogLevel: info, Ready: Started}},
		{"explicit wins in plain init", []string{"DROVER_RESTART=always", "DROVER_HEALTH_ADDR=:0", "DROVER_HUP=reload", "DROVER_LOG_LEVEL=debug"},
			Settings{Pool: false, Workers: 1, Restart: Always, HealthAddr: ":0", HUP: Reload, LogLevel: debug, Ready: Started}},
		{"info is not unset", []string{"DROVER_LOG_LEVEL=info"}, Settings{Pool: false, Workers: 1, Restart: Never, HUP: Forward, LogLevel: info, Ready: Started}},
	} {
		s, err := load(t, tc.environ...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := Settings{Pool: s.Pool, Workers: s.Workers, Restart: s.Restart, HealthAddr: s.HealthAddr, HUP: s.HUP, LogLevel: s.LogLevel, Ready: s.Ready}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The fixed defaults, as the README promises them.
func TestFixedDefaults(t *testing.T) {
	s, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		Workers: 1, WorkersMin: 1, WorkersMax: 0, WorkersPerCPU: PerCPU{big.NewRat(1, 1)}, CPURounding: Ceil,
		StartupTimeout: Timeout(60 * time.Second), BackoffMax: Backoff(30 * time.Second), CrashLimit: 10,
		StopSignal: StopSignal(syscall.SIGTERM), StopTimeout: Duration(8 * time.Second), LogFormat: TextLog,
		CPURecheck: Recheck(10 * time.Second), LogLevel: LogLevel(slog.LevelWarn), Restart: Never, Ready: Started,
		HUP: Forward, MinReady: MinReady{N: 50, Percent: true}, WorkerOOMScoreAdj: OOMScoreAdj{Typed: "auto"},
	}
	if s.WorkersPerCPU.Cmp(want.WorkersPerCPU.Rat) != 0 {
		t.Errorf("WorkersPerCPU %v", s.WorkersPerCPU)
	}
	s.WorkersPerCPU = want.WorkersPerCPU
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("got %+v\nwant %+v", *s, want)
	}
}

func TestCrossFieldRules(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    string // "" = accepted
	}{
		{[]string{"DROVER_WORKERS_MIN=4", "DROVER_WORKERS_MAX=2"}, `DROVER_WORKERS_MAX="2" is not valid; accepted: a whole number from 0 to 4096 (0 = no max) (below DROVER_WORKERS_MIN=4)`},
		{[]string{"DROVER_WORKERS_MIN=4", "DROVER_WORKERS_MAX=4"}, ""},
		{[]string{"DROVER_WORKERS_MIN=4", "DROVER_WORKERS_MAX=0"}, ""},
		{[]string{"DROVER_WORKERS_MAX=0"}, ""},
		{[]string{"DROVER_READY_DELAY=60s"}, `DROVER_READY_DELAY="60s" is not valid; accepted: a duration such as 0s, 500ms, 2s (must be shorter than DROVER_STARTUP_TIMEOUT=60s)`},
		{[]string{"DROVER_READY_DELAY=1m", "DROVER_STARTUP_TIMEOUT=60s"}, `DROVER_READY_DELAY="1m" is not valid; accepted: a duration such as 0s, 500ms, 2s (must be shorter than DROVER_STARTUP_TIMEOUT=60s)`},
		{[]string{"DROVER_READY_DELAY=59s"}, ""},
		{[]string{"DROVER_READY_DELAY=2m", "DROVER_STARTUP_TIMEOUT=3m"}, ""},
	} {
		_, err := load(t, tc.environ...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.environ, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%v:\ngot  %v\nwant %s", tc.environ, err, tc.want)
		}
	}
}

// Values are echoed exactly as typed, not as Go would print them.
func TestErrorsShowTheValueAsTyped(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    string
	}{
		{[]string{"DROVER_STOP_TIMEOUT= -60s "}, `DROVER_STOP_TIMEOUT=" -60s " is not valid; accepted: a duration such as 8s (negative)`},
		{[]string{"DROVER_WORKERS= 0 "}, `DROVER_WORKERS=" 0 " is not valid; accepted: auto, or a whole number from 1 to 4096 (must be more than 0)`},
		{[]string{"DROVER_USER=root:"}, `DROVER_USER="root:" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (no group "" in /etc/group)`},
		{[]string{"DROVER_READY_DELAY=90s", "DROVER_STARTUP_TIMEOUT=60s"}, `DROVER_READY_DELAY="90s" is not valid; accepted: a duration such as 0s, 500ms, 2s (must be shorter than DROVER_STARTUP_TIMEOUT=60s)`},
	} {
		if _, err := load(t, tc.environ...); err == nil || err.Error() != tc.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tc.environ, err, tc.want)
		}
	}
}

func TestUnknownVariable(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"DROVER_WORKER=3", `DROVER_WORKER="3": no such variable; did you mean DROVER_WORKERS?`},
		{"DROVER_STOP_TIMOUT=3s", `DROVER_STOP_TIMOUT="3s": no such variable; did you mean DROVER_STOP_TIMEOUT?`},
		{"DROVER_NOTHING_LIKE_IT=1", `DROVER_NOTHING_LIKE_IT="1": no such variable; see drover --help for the variables`},
		{"DROVER_" + strings.Repeat("X", 10000) + "=1", `see drover --help`},
		{"DROVER_WORKERS_PERCPU=", `DROVER_WORKERS_PERCPU="": no such variable; did you mean DROVER_WORKERS_PER_CPU?`},
		// Shaped like a service link, but not with a link's value.
		{"DROVER_SERVICE_HOST=drover.example", `DROVER_SERVICE_HOST="drover.example": no such variable`},
		{"DROVER_PORT=8080", `DROVER_PORT="8080": no such variable`},
		{"DROVER_PORT_80_TCP_PROTO=http", `no such variable`},
	} {
		_, err := load(t, tc.env)
		var ce *Error
		if !errors.As(err, &ce) || !ce.Unknown || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40s: got %v, want %q", tc.env, err, tc.want)
		}
	}
	if _, err := load(t, "DROVER_WORKER_ID=3"); err != nil {
		t.Errorf("DROVER_WORKER_ID, which a drover sets for its workers: %v", err)
	}
}

// Kubernetes' service-link variables for a Service named drover or
// drover-web are not drover's configuration (issue 20).
func TestServiceLinksAreNotConfiguration(t *testing.T) {
	links := []string{
		"DROVER_SERVICE_HOST=10.96.46.43", "DROVER_SERVICE_PORT=80", "DROVER_SERVICE_PORT_HTTP=80",
		"DROVER_PORT=tcp://10.96.46.43:80", "DROVER_PORT_80_TCP=tcp://10.96.46.43:80",
		"DROVER_PORT_80_TCP_PROTO=tcp", "DROVER_PORT_80_TCP_PORT=80", "DROVER_PORT_80_TCP_ADDR=10.96.46.43",
		"DROVER_WEB_SERVICE_HOST=fd00::1", "DROVER_WEB_PORT_8081_UDP=udp://[fd00::1]:8081",
		"DROVER_WEB_PORT_8081_SCTP_ADDR=fd00::1",
	}
	s, err := load(t, append(links, "DROVER_WORKERS=2")...)
	if err != nil || s.Workers != 2 {
		t.Fatalf("got %+v, %v", s, err)
	}
}

// The first of duplicate names wins, as for getenv, even when it is blank
// (then the variable is unset): the Go runtime drops the later ones before
// main runs. Duplicates exist only in a real process's environment
// (exec.Cmd keeps the last), so a child is started with syscall.ForkExec.
func TestDuplicateVariable(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    string
	}{
		{[]string{"DROVER_WORKERS=2", "DROVER_WORKERS=3"}, "workers=2 format=text"},
		{[]string{"DROVER_WORKERS= ", "DROVER_WORKERS=3"}, "workers=1 format=text"},
		{[]string{"DROVER_LOG_FORMAT=", "DROVER_LOG_FORMAT=json", "DROVER_WORKERS=1"}, "workers=1 format=text"},
		{[]string{"DROVER_LOG_FORMAT=json", "DROVER_LOG_FORMAT=text", "DROVER_WORKERS=1"}, "workers=1 format=json"},
	} {
		if got := child(t, tc.environ...); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.environ, got, tc.want)
		}
	}
}

// childEnv makes the test binary print what Load read (see TestMain).
const childEnv = "CONFIG_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		s, err := Load()
		if err != nil {
			fmt.Print(err)
		} else {
			fmt.Printf("workers=%d format=%s", s.Workers, StartLogFormat())
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, environ ...string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := syscall.ForkExec(exe, []string{exe}, &syscall.ProcAttr{
		Env: append([]string{childEnv + "=1"}, environ...), Files: []uintptr{0, w.Fd(), 2},
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := new(strings.Builder)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("child: %v, status %v", err, ws)
	}
	return out.String()
}

func TestCheckWorkerLimit(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		limit   int
		want    string
	}{
		{[]string{"DROVER_WORKERS=300"}, 250, `DROVER_WORKERS="300" is not valid; accepted: auto, or a whole number from 1 to 4096 (the container allows at most 250 workers: pids.max is 256)`},
		{[]string{"DROVER_WORKERS=250"}, 250, ""},
		{[]string{"DROVER_WORKERS=300"}, 0, ""},
		{[]string{"DROVER_WORKERS=auto", "DROVER_WORKERS_MIN=300"}, 250, `DROVER_WORKERS_MIN="300"`},
		{[]string{"DROVER_WORKERS=auto", "DROVER_WORKERS_MAX=300"}, 250, `DROVER_WORKERS_MAX="300"`},
		{[]string{"DROVER_WORKERS=auto", "DROVER_WORKERS_PER_CPU=1000"}, 250, ""},
	} {
		s, err := load(t, tc.environ...)
		if err != nil {
			t.Fatal(err)
		}
		err = s.CheckWorkerLimit(tc.limit, "pids.max is 256")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.environ, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%v:\ngot  %v\nwant %s", tc.environ, err, tc.want)
		}
	}
}

func TestHealthAddrOf(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"", DefaultHealthAddr}, {"DROVER_HEALTH_ADDR= ", DefaultHealthAddr}, {"DROVER_HEALTH_ADDR=off", ""},
		{"DROVER_HEALTH_ADDR= 127.0.0.1:9 ", "127.0.0.1:9"},
	} {
		setenv(t)
		if tc.env != "" {
			setenv(t, tc.env)
		}
		if got := HealthAddrOf(); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.env, got, tc.want)
		}
	}
}

// Start cost: decoding the whole configuration, as drover does at start.
func BenchmarkLoad(b *testing.B) {
	setenv(b, "DROVER_LISTEN=:0", "DROVER_WORKERS_PER_CPU=2", "DROVER_STOP_TIMEOUT=20s", "DROVER_MIN_READY=75%", "DROVER_LOG_FORMAT=json")
	for b.Loop() {
		if _, err := Load(); err != nil {
			b.Fatal(err)
		}
	}
}
