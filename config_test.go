package main

import (
	"errors"
	"log/slog"
	"math/big"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/spawn"
)

// varCase is one value of one variable: ok checks the decoded field when
// the value is valid; a nil ok means the value must be refused with a
// one-line error naming the variable and showing the value as typed.
type varCase struct {
	value string
	ok    func(*Settings) bool
}

func valid(value string, ok func(*Settings) bool) varCase { return varCase{value, ok} }
func invalid(value string) varCase                        { return varCase{value: value} }

// everyVariable is a table of valid and invalid values for every variable.
// TestEveryVariableIsInTheTable keeps it complete.
func everyVariable() map[string][]varCase {
	dur := func(get func(*Settings) time.Duration, want time.Duration) func(*Settings) bool {
		return func(s *Settings) bool { return get(s) == want }
	}
	return map[string][]varCase{
		"DROVER_WORKERS": {
			valid("auto", func(s *Settings) bool { return s.Workers == 0 && s.Pool }),
			valid("3", func(s *Settings) bool { return s.Workers == 3 && s.Pool }),
			valid(" 4 ", func(s *Settings) bool { return s.Workers == 4 }),
			valid("4096", func(s *Settings) bool { return s.Workers == 4096 }),
			invalid("0"), invalid("-1"), invalid("abc"), invalid("4097"), invalid("100000"),
			invalid("99999999999999999999"), invalid("1.5"), invalid("Auto"),
		},
		"DROVER_WORKERS_MIN": {
			valid("2", func(s *Settings) bool { return s.WorkersMin == 2 }),
			invalid("0"), invalid("-3"), invalid("x"), invalid("5000"),
		},
		"DROVER_WORKERS_MAX": {
			valid("0", func(s *Settings) bool { return s.WorkersMax == 0 }),
			valid("8", func(s *Settings) bool { return s.WorkersMax == 8 }),
			invalid("-1"), invalid("many"), invalid("4097"),
		},
		"DROVER_WORKERS_PER_CPU": {
			valid("1.5", func(s *Settings) bool { return s.PerCPU.Cmp(big.NewRat(3, 2)) == 0 }),
			valid("4096", func(s *Settings) bool { return s.PerCPU.Cmp(big.NewRat(4096, 1)) == 0 }),
			invalid("0"), invalid("-1"), invalid("3/2"), invalid("1e3"), invalid("100000"), invalid("two"),
		},
		"DROVER_CPU_ROUNDING": {
			valid("floor", func(s *Settings) bool { return s.Rounding == cpus.Floor }),
			valid("nearest", func(s *Settings) bool { return s.Rounding == cpus.Nearest }),
			valid("ceil", func(s *Settings) bool { return s.Rounding == cpus.Ceil }),
			invalid("up"), invalid("CEIL"),
		},
		"DROVER_CPU_MILLICORES": {
			valid("1500", func(s *Settings) bool { return s.CPUMillicores == 1500 }),
			valid("-1", func(s *Settings) bool { return s.CPUMillicores == -1 }),
			invalid("1.5"), invalid("2 cpus"), invalid("99999999999999999999"),
		},
		"DROVER_CPU_FILE": {
			valid("/etc/drover/cpu_millicores", func(s *Settings) bool { return s.CPUFile == "/etc/drover/cpu_millicores" }),
		},
		"DROVER_CPU_RECHECK": {
			valid("30s", dur(func(s *Settings) time.Duration { return s.CPURecheck }, 30*time.Second)),
			valid("0", dur(func(s *Settings) time.Duration { return s.CPURecheck }, 0)),
			invalid("often"), invalid("-10s"),
		},
		"DROVER_WORKER_MEMORY": {
			valid("512Mi", func(s *Settings) bool { return s.WorkerMemory == 512<<20 }),
			valid("1G", func(s *Settings) bool { return s.WorkerMemory == 1e9 }),
			valid("1048576", func(s *Settings) bool { return s.WorkerMemory == 1<<20 }),
			invalid("lots"), invalid("0"), invalid("-1Mi"), invalid("99999999Ti"),
		},
		"DROVER_LISTEN": {
			valid(":8080", func(s *Settings) bool {
				return len(s.Listen) == 1 && s.Listen[0].Port == 8080 && s.Pool && s.Workers == 0
			}),
			valid("web=tcp://127.0.0.1:0,unix:///tmp/x.sock", func(s *Settings) bool { return len(s.Listen) == 2 }),
			invalid("foo"), invalid(":8080,:8080"), invalid("tcp://:99999"),
		},
		"DROVER_REUSEPORT": {
			valid("true", func(s *Settings) bool { return s.Reuseport }),
			valid("false", func(s *Settings) bool { return !s.Reuseport }),
			valid("1", func(s *Settings) bool { return s.Reuseport }),
			invalid("maybe"), invalid("yes"),
		},
		"DROVER_USER": {
			valid("root", func(s *Settings) bool { return s.Credential.Uid == 0 && s.Credential.Gid == 0 }),
			valid("1000", func(s *Settings) bool { return s.Credential.Uid == 1000 && s.Credential.Gid == 1000 }),
			valid("1000:2000", func(s *Settings) bool { return s.Credential.Uid == 1000 && s.Credential.Gid == 2000 }),
			valid("4294967294", func(s *Settings) bool { return s.Credential.Uid == 4294967294 }),
			valid("0:root", func(s *Settings) bool { return s.Credential.Uid == 0 && s.Credential.Gid == 0 }),
			invalid("4294967296"), invalid("4294967295"), invalid("-1"), invalid("99999999999"),
			invalid("+5"), invalid("1000:4294967295"), invalid("1000:-1"),
			invalid("nobody-such-user"), invalid("root:nobody-such-group"), invalid(":0"),
		},
		"DROVER_HEALTH_ADDR": {
			valid(":9090", func(s *Settings) bool { return s.HealthAddr == ":9090" }),
			valid("off", func(s *Settings) bool { return s.HealthAddr == "" }),
		},
		"DROVER_READY": {
			valid("notify", func(s *Settings) bool { return s.Ready == "notify" }),
			valid("started", func(s *Settings) bool { return s.Ready == "started" }),
			valid("listening", func(s *Settings) bool { return s.Ready == "listening" }),
			invalid("ready"), invalid("true"),
		},
		"DROVER_READY_DELAY": {
			valid("2s", dur(func(s *Settings) time.Duration { return s.ReadyDelay }, 2*time.Second)),
			invalid("-1s"), invalid("2"), invalid("soon"), invalid("9999999999h"),
		},
		"DROVER_STARTUP_TIMEOUT": {
			valid("90s", dur(func(s *Settings) time.Duration { return s.StartupTimeout }, 90*time.Second)),
			invalid("0s"), invalid("-5s"), invalid("later"),
		},
		"DROVER_WATCHDOG": {
			valid("10s", dur(func(s *Settings) time.Duration { return s.Watchdog }, 10*time.Second)),
			invalid("-10s"), invalid("10"),
		},
		"DROVER_MIN_READY": {
			valid("2", func(s *Settings) bool { return s.MinReady.String() == "2" }),
			valid("100%", func(s *Settings) bool { return s.MinReady.String() == "100%" }),
			invalid("101%"), invalid("-1"), invalid("half"),
		},
		"DROVER_RESTART": {
			valid("always", func(s *Settings) bool { return s.Restart == spawn.Always }),
			valid("on-failure", func(s *Settings) bool { return s.Restart == spawn.OnFailure }),
			valid("never", func(s *Settings) bool { return s.Restart == spawn.Never }),
			invalid("sometimes"),
		},
		"DROVER_BACKOFF_MAX": {
			valid("100ms", dur(func(s *Settings) time.Duration { return s.BackoffMax }, 100*time.Millisecond)),
			valid("5m", dur(func(s *Settings) time.Duration { return s.BackoffMax }, 5*time.Minute)),
			invalid("99ms"), invalid("-1s"), invalid("0"),
		},
		"DROVER_CRASH_LIMIT": {
			valid("0", func(s *Settings) bool { return s.CrashLimit == 0 }),
			valid("3", func(s *Settings) bool { return s.CrashLimit == 3 }),
			invalid("-1"), invalid("ten"), invalid("99999999999999999999"),
		},
		"DROVER_DRAIN_DELAY": {
			valid("5s", dur(func(s *Settings) time.Duration { return s.DrainDelay }, 5*time.Second)),
			invalid("-5s"), invalid("5"),
		},
		"DROVER_STOP_SIGNAL": {
			valid("SIGINT", func(s *Settings) bool { return s.StopSignal == syscall.SIGINT }),
			valid("QUIT", func(s *Settings) bool { return s.StopSignal == syscall.SIGQUIT }),
			valid("term", func(s *Settings) bool { return s.StopSignal == syscall.SIGTERM }),
			valid("sigusr1", func(s *Settings) bool { return s.StopSignal == syscall.SIGUSR1 }),
			valid("9", func(s *Settings) bool { return s.StopSignal == syscall.SIGKILL }),
			valid("KILL", func(s *Settings) bool { return s.StopSignal == syscall.SIGKILL }),
			valid("40", func(s *Settings) bool { return s.StopSignal == syscall.Signal(40) }),
			invalid("SIGFOO"), invalid("STOP"), invalid("SIGTSTP"), invalid("ttin"), invalid("TTOU"),
			invalid("CHLD"), invalid("SIGCONT"), invalid("URG"), invalid("WINCH"), invalid("19"),
			invalid("0"), invalid("65"), invalid("-15"), invalid("32"),
		},
		"DROVER_STOP_TIMEOUT": {
			valid("60s", dur(func(s *Settings) time.Duration { return s.StopTimeout }, time.Minute)),
			valid("0s", dur(func(s *Settings) time.Duration { return s.StopTimeout }, 0)),
			invalid("ten"), invalid("-60s"), invalid("99999999999999999999s"),
		},
		"DROVER_HUP": {
			valid("reload", func(s *Settings) bool { return s.HUPReload }),
			valid("forward", func(s *Settings) bool { return !s.HUPReload }),
			invalid("restart"),
		},
		"DROVER_MAX_MEMORY": {
			valid("1Gi", func(s *Settings) bool { return s.MaxMemory == 1<<30 }),
			invalid("1 gigabyte"), invalid("0"),
		},
		"DROVER_LOG_FORMAT": {
			valid("json", func(s *Settings) bool { return s.LogFormat == "json" }),
			valid("text", func(s *Settings) bool { return s.LogFormat == "text" }),
			invalid("xml"),
		},
		"DROVER_LOG_LEVEL": {
			valid("debug", func(s *Settings) bool { return s.LogLevel == slog.LevelDebug }),
			valid("error", func(s *Settings) bool { return s.LogLevel == slog.LevelError }),
			invalid("loud"), invalid("DEBUG"),
		},
	}
}

func TestEveryVariableIsInTheTable(t *testing.T) {
	table := everyVariable()
	for _, v := range configVars() {
		if len(table[v.Key]) == 0 {
			t.Errorf("%s has no test cases", v.Key)
		}
		delete(table, v.Key)
	}
	for k := range table {
		t.Errorf("table has %s, which is no variable", k)
	}
}

func TestEveryVariable(t *testing.T) {
	for key, cases := range everyVariable() {
		for _, tc := range cases {
			s, err := LoadConfig([]string{key + "=" + tc.value})
			switch {
			case tc.ok != nil && err != nil:
				t.Errorf("%s=%q: %v", key, tc.value, err)
			case tc.ok != nil && !tc.ok(s):
				t.Errorf("%s=%q: decoded as %+v", key, tc.value, s)
			case tc.ok == nil && err == nil:
				t.Errorf("%s=%q accepted", key, tc.value)
			case tc.ok == nil:
				msg := err.Error()
				if !strings.HasPrefix(msg, key+`: `) && !strings.HasPrefix(msg, key+"="+quote(tc.value)) {
					t.Errorf("%s=%q: error does not start with the variable and the value as typed: %s", key, tc.value, msg)
				}
				if strings.Count(msg, "accepted") != 1 || strings.Count(msg, key) != 1 {
					t.Errorf("%s=%q: error repeats itself: %s", key, tc.value, msg)
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("%s=%q: error is more than one line: %q", key, tc.value, msg)
				}
			}
		}
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// An empty or blank value is the same as not setting the variable.
func TestEmptyMeansUnset(t *testing.T) {
	for _, pool := range [][]string{nil, {"DROVER_WORKERS=2"}} {
		want, err := LoadConfig(pool)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range configVars() {
			for _, empty := range []string{"", "  "} {
				got, err := LoadConfig(append([]string{v.Key + "=" + empty}, pool...))
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
	for _, tc := range []struct {
		name    string
		environ []string
		want    Settings // only the mode-dependent fields are compared
	}{
		{"plain init", nil, Settings{Pool: false, Workers: 1, Restart: spawn.Never, HealthAddr: "", HUPReload: false, LogLevel: slog.LevelWarn, Ready: "started"}},
		{"workers", []string{"DROVER_WORKERS=2"}, Settings{Pool: true, Workers: 2, Restart: spawn.Always, HealthAddr: ":8081", HUPReload: true, LogLevel: slog.LevelInfo, Ready: "started"}},
		{"listen", []string{"DROVER_LISTEN=:0"}, Settings{Pool: true, Workers: 0, Restart: spawn.Always, HealthAddr: ":8081", HUPReload: true, LogLevel: slog.LevelInfo, Ready: "listening"}},
		{"empty listen is plain", []string{"DROVER_LISTEN="}, Settings{Pool: false, Workers: 1, Restart: spawn.Never, HealthAddr: "", HUPReload: false, LogLevel: slog.LevelWarn, Ready: "started"}},
		{"explicit wins in a pool", []string{"DROVER_WORKERS=auto", "DROVER_RESTART=never", "DROVER_HEALTH_ADDR=off", "DROVER_HUP=forward", "DROVER_LOG_LEVEL=error"},
			Settings{Pool: true, Workers: 0, Restart: spawn.Never, HealthAddr: "", HUPReload: false, LogLevel: slog.LevelError, Ready: "started"}},
		{"explicit wins with sockets", []string{"DROVER_LISTEN=:0", "DROVER_READY=started"},
			Settings{Pool: true, Workers: 0, Restart: spawn.Always, HealthAddr: ":8081", HUPReload: true, LogLevel: slog.LevelInfo, Ready: "started"}},
		{"explicit wins in plain init", []string{"DROVER_RESTART=always", "DROVER_HEALTH_ADDR=:0", "DROVER_HUP=reload", "DROVER_LOG_LEVEL=debug"},
			Settings{Pool: false, Workers: 1, Restart: spawn.Always, HealthAddr: ":0", HUPReload: true, LogLevel: slog.LevelDebug, Ready: "started"}},
	} {
		s, err := LoadConfig(tc.environ)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := Settings{Pool: s.Pool, Workers: s.Workers, Restart: s.Restart, HealthAddr: s.HealthAddr, HUPReload: s.HUPReload, LogLevel: s.LogLevel, Ready: s.Ready}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The fixed defaults, as the README promises them.
func TestFixedDefaults(t *testing.T) {
	s, err := LoadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		Workers: 1, WorkersMin: 1, WorkersMax: 0, PerCPU: big.NewRat(1, 1), Rounding: cpus.Ceil,
		StartupTimeout: 60 * time.Second, BackoffMax: 30 * time.Second, CrashLimit: 10,
		StopSignal: syscall.SIGTERM, StopTimeout: 8 * time.Second, LogFormat: "text", CPURecheck: 10 * time.Second,
		LogLevel: slog.LevelWarn, Restart: spawn.Never, Ready: "started",
	}
	want.MinReady, _ = health.ParseMinReady("50%")
	if s.PerCPU.Cmp(want.PerCPU) != 0 {
		t.Errorf("PerCPU %v", s.PerCPU)
	}
	s.PerCPU = want.PerCPU
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
		_, err := LoadConfig(tc.environ)
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
	_, err := LoadConfig([]string{"DROVER_STOP_TIMEOUT= -60s "})
	if err == nil || !strings.HasPrefix(err.Error(), `DROVER_STOP_TIMEOUT=" -60s " is not valid`) {
		t.Errorf("got %v", err)
	}
	_, err = LoadConfig([]string{"DROVER_READY_DELAY=90s", "DROVER_STARTUP_TIMEOUT=60s"})
	if err == nil || strings.Contains(err.Error(), "1m") || !strings.Contains(err.Error(), `"90s"`) {
		t.Errorf("got %v", err)
	}
}

func TestUnknownVariable(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"DROVER_WORKER=3", `DROVER_WORKER="3": no such variable; did you mean DROVER_WORKERS?`},
		{"DROVER_STOP_TIMOUT=3s", `DROVER_STOP_TIMEOUT?`},
		{"DROVER_NOTHING_LIKE_IT=1", `see drover --help for the variables`},
		{"DROVER_" + strings.Repeat("X", 10000) + "=1", `see drover --help`},
		{"DROVER_WORKERS_PERCPU=", `did you mean DROVER_WORKERS_PER_CPU?`},
	} {
		_, err := LoadConfig([]string{"PATH=/bin", tc.env})
		var ce *ConfigError
		if !errors.As(err, &ce) || !ce.Unknown || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40s: got %v, want %q", tc.env, err, tc.want)
		}
	}
	if _, err := LoadConfig([]string{"DROVER_WORKER_ID=3", "OTHER=1", "=x", "NOEQUALS"}); err != nil {
		t.Errorf("variables drover does not own: %v", err)
	}
}

// The first of duplicate names wins, as getenv does.
func TestDuplicateVariable(t *testing.T) {
	s, err := LoadConfig([]string{"DROVER_WORKERS=2", "DROVER_WORKERS=3"})
	if err != nil || s.Workers != 2 {
		t.Errorf("got %v, %v", s, err)
	}
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
		s, err := LoadConfig(tc.environ)
		if err != nil {
			t.Fatal(err)
		}
		err = checkWorkerLimit(s, tc.limit, "pids.max is 256")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.environ, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%v:\ngot  %v\nwant %s", tc.environ, err, tc.want)
		}
	}
}

// Start cost: decoding the whole configuration, as drover does at start.
func BenchmarkLoadConfig(b *testing.B) {
	environ := []string{"PATH=/bin", "HOME=/root", "DROVER_LISTEN=:0", "DROVER_WORKERS_PER_CPU=2",
		"DROVER_STOP_TIMEOUT=20s", "DROVER_MIN_READY=75%", "DROVER_LOG_FORMAT=json"}
	for b.Loop() {
		if _, err := LoadConfig(environ); err != nil {
			b.Fatal(err)
		}
	}
}
