package config

import (
	"log/slog"
	"math/big"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setenv makes the process environment hold exactly environ's DROVER_*
// variables for the rest of the test (envconfig reads only the process
// environment). A later entry for a name replaces an earlier one.
func setenv(t testing.TB, environ ...string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DROVER_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// load is Load with exactly these DROVER_* variables.
func load(t testing.TB, environ ...string) (*Settings, error) {
	t.Helper()
	setenv(t, environ...)
	return Load()
}

// varCase is one value of one variable: ok checks the decoded field when
// the value is valid; otherwise want is the whole one-line error.
type varCase struct {
	value string
	ok    func(*Settings) bool
	want  string
}

func valid(value string, ok func(*Settings) bool) varCase { return varCase{value: value, ok: ok} }
func invalid(value, want string) varCase                  { return varCase{value: value, want: want} }

// everyVariable is a table of valid and invalid values for every variable,
// with the exact message each invalid one gets.
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
			invalid("0", `DROVER_WORKERS="0" is not valid; accepted: auto, or a whole number from 1 to 4096 (must be more than 0)`),
			invalid("-1", `DROVER_WORKERS="-1" is not valid; accepted: auto, or a whole number from 1 to 4096 (must be more than 0)`),
			invalid("abc", `DROVER_WORKERS="abc" is not valid; accepted: auto, or a whole number from 1 to 4096`),
			invalid("4097", `DROVER_WORKERS="4097" is not valid; accepted: auto, or a whole number from 1 to 4096 (above the maximum 4096)`),
			invalid("100000", `DROVER_WORKERS="100000" is not valid; accepted: auto, or a whole number from 1 to 4096 (above the maximum 4096)`),
			invalid("99999999999999999999", `DROVER_WORKERS="99999999999999999999" is not valid; accepted: auto, or a whole number from 1 to 4096 (out of range)`),
			invalid("1.5", `DROVER_WORKERS="1.5" is not valid; accepted: auto, or a whole number from 1 to 4096`),
			invalid("Auto", `DROVER_WORKERS="Auto" is not valid; accepted: auto, or a whole number from 1 to 4096`),
		},
		"DROVER_WORKERS_MIN": {
			valid("2", func(s *Settings) bool { return s.WorkersMin == 2 }),
			invalid("0", `DROVER_WORKERS_MIN="0" is not valid; accepted: a whole number from 1 to 4096 (must be more than 0)`),
			invalid("-3", `DROVER_WORKERS_MIN="-3" is not valid; accepted: a whole number from 1 to 4096 (must be more than 0)`),
			invalid("x", `DROVER_WORKERS_MIN="x" is not valid; accepted: a whole number from 1 to 4096`),
			invalid("5000", `DROVER_WORKERS_MIN="5000" is not valid; accepted: a whole number from 1 to 4096 (above the maximum 4096)`),
		},
		"DROVER_WORKERS_MAX": {
			valid("0", func(s *Settings) bool { return s.WorkersMax == 0 }),
			valid("8", func(s *Settings) bool { return s.WorkersMax == 8 }),
			invalid("-1", `DROVER_WORKERS_MAX="-1" is not valid; accepted: a whole number from 0 to 4096 (0 = no max) (negative)`),
			invalid("many", `DROVER_WORKERS_MAX="many" is not valid; accepted: a whole number from 0 to 4096 (0 = no max)`),
			invalid("4097", `DROVER_WORKERS_MAX="4097" is not valid; accepted: a whole number from 0 to 4096 (0 = no max) (above the maximum 4096)`),
		},
		"DROVER_WORKERS_PER_CPU": {
			valid("1.5", func(s *Settings) bool { return s.WorkersPerCPU.Cmp(big.NewRat(3, 2)) == 0 }),
			valid("4096", func(s *Settings) bool { return s.WorkersPerCPU.Cmp(big.NewRat(4096, 1)) == 0 }),
			invalid("0", `DROVER_WORKERS_PER_CPU="0" is not valid; accepted: a positive number up to 4096 such as 1, 2 or 1.5`),
			invalid("-1", `DROVER_WORKERS_PER_CPU="-1" is not valid; accepted: a positive number up to 4096 such as 1, 2 or 1.5`),
			invalid("3/2", `DROVER_WORKERS_PER_CPU="3/2" is not valid; accepted: a positive number up to 4096 such as 1, 2 or 1.5`),
			invalid("1e3", `DROVER_WORKERS_PER_CPU="1e3" is not valid; accepted: a positive number up to 4096 such as 1, 2 or 1.5`),
			invalid("100000", `DROVER_WORKERS_PER_CPU="100000" is not valid; accepted: a positive number up to 4096 such as 1, 2 or 1.5 (above the limit of 4096 workers)`),
			invalid("two", `DROVER_WORKERS_PER_CPU="two" is not valid; accepted: a positive number up to 4096 such as 1, 2 or 1.5`),
		},
		"DROVER_CPU_ROUNDING": {
			valid("floor", func(s *Settings) bool { return s.CPURounding == Floor }),
			valid("nearest", func(s *Settings) bool { return s.CPURounding == Nearest }),
			valid("ceil", func(s *Settings) bool { return s.CPURounding == Ceil }),
			invalid("up", `DROVER_CPU_ROUNDING="up" is not valid; accepted: ceil, floor or nearest`),
			invalid("CEIL", `DROVER_CPU_ROUNDING="CEIL" is not valid; accepted: ceil, floor or nearest`),
		},
		"DROVER_CPU_MILLICORES": {
			valid("1500", func(s *Settings) bool { return s.CPUMillicores == 1500 }),
			valid("-1", func(s *Settings) bool { return s.CPUMillicores == -1 }),
			invalid("1.5", `DROVER_CPU_MILLICORES="1.5" is not valid; accepted: a whole number of millicores (<= 0 = unset)`),
			invalid("2 cpus", `DROVER_CPU_MILLICORES="2 cpus" is not valid; accepted: a whole number of millicores (<= 0 = unset)`),
			invalid("99999999999999999999", `DROVER_CPU_MILLICORES="99999999999999999999" is not valid; accepted: a whole number of millicores (<= 0 = unset) (out of range)`),
		},
		"DROVER_CPU_FILE": {
			valid("/etc/drover/cpu_millicores", func(s *Settings) bool { return s.CPUFile == "/etc/drover/cpu_millicores" }),
		},
		"DROVER_CPU_RECHECK": {
			valid("30s", dur(func(s *Settings) time.Duration { return time.Duration(s.CPURecheck) }, 30*time.Second)),
			valid("0", dur(func(s *Settings) time.Duration { return time.Duration(s.CPURecheck) }, 0)),
			valid("250ms", dur(func(s *Settings) time.Duration { return time.Duration(s.CPURecheck) }, MinRecheck)),
			invalid("1ms", `DROVER_CPU_RECHECK="1ms" is not valid; accepted: 0 (off) or a duration of at least 250ms, such as 10s`),
			invalid("249ms", `DROVER_CPU_RECHECK="249ms" is not valid; accepted: 0 (off) or a duration of at least 250ms, such as 10s`),
			invalid("1ns", `DROVER_CPU_RECHECK="1ns" is not valid; accepted: 0 (off) or a duration of at least 250ms, such as 10s`),
			invalid("often", `DROVER_CPU_RECHECK="often" is not valid; accepted: 0 (off) or a duration of at least 250ms, such as 10s`),
			invalid("-10s", `DROVER_CPU_RECHECK="-10s" is not valid; accepted: 0 (off) or a duration of at least 250ms, such as 10s (negative)`),
		},
		"DROVER_WORKER_MEMORY": {
			valid("512Mi", func(s *Settings) bool { return s.WorkerMemory == 512<<20 }),
			valid("1G", func(s *Settings) bool { return s.WorkerMemory == 1e9 }),
			valid("1048576", func(s *Settings) bool { return s.WorkerMemory == 1<<20 }),
			invalid("lots", `DROVER_WORKER_MEMORY="lots" is not valid; accepted: bytes, optionally with a unit: 512Mi, 1Gi, 500M (not a positive size)`),
			invalid("0", `DROVER_WORKER_MEMORY="0" is not valid; accepted: bytes, optionally with a unit: 512Mi, 1Gi, 500M (not a positive size)`),
			invalid("-1Mi", `DROVER_WORKER_MEMORY="-1Mi" is not valid; accepted: bytes, optionally with a unit: 512Mi, 1Gi, 500M (not a positive size)`),
			invalid("99999999Ti", `DROVER_WORKER_MEMORY="99999999Ti" is not valid; accepted: bytes, optionally with a unit: 512Mi, 1Gi, 500M (not a positive size)`),
		},
		"DROVER_LISTEN": { // its items are listener's syntax, checked by main (see listener.Parse)
			valid(":8080", func(s *Settings) bool { return s.Listen == ":8080" && s.Pool && s.Workers == Auto }),
			valid(" web=tcp://127.0.0.1:0,unix:///tmp/x.sock ", func(s *Settings) bool { return s.Listen == "web=tcp://127.0.0.1:0,unix:///tmp/x.sock" }),
		},
		"DROVER_REUSEPORT": {
			valid("true", func(s *Settings) bool { return bool(s.Reuseport) }),
			valid("false", func(s *Settings) bool { return !bool(s.Reuseport) }),
			valid("1", func(s *Settings) bool { return bool(s.Reuseport) }),
			invalid("maybe", `DROVER_REUSEPORT="maybe" is not valid; accepted: true or false`),
			invalid("yes", `DROVER_REUSEPORT="yes" is not valid; accepted: true or false`),
		},
		"DROVER_USER": {
			valid("root", func(s *Settings) bool { return s.User.Uid == 0 && s.User.Gid == 0 }),
			valid("1000", func(s *Settings) bool { return s.User.Uid == 1000 && s.User.Gid == 1000 }),
			valid("1000:2000", func(s *Settings) bool { return s.User.Uid == 1000 && s.User.Gid == 2000 }),
			valid("4294967294", func(s *Settings) bool { return s.User.Uid == 4294967294 }),
			valid("0:root", func(s *Settings) bool { return s.User.Uid == 0 && s.User.Gid == 0 }),
			invalid("4294967296", `DROVER_USER="4294967296" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (uid "4294967296" is outside 0…4294967294)`),
			invalid("4294967295", `DROVER_USER="4294967295" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (uid "4294967295" is outside 0…4294967294)`),
			invalid("-1", `DROVER_USER="-1" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (uid "-1" is outside 0…4294967294)`),
			invalid("99999999999", `DROVER_USER="99999999999" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (uid "99999999999" is outside 0…4294967294)`),
			invalid("+5", `DROVER_USER="+5" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (uid "+5" is outside 0…4294967294)`),
			invalid("1000:4294967295", `DROVER_USER="1000:4294967295" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (gid "4294967295" is outside 0…4294967294)`),
			invalid("1000:-1", `DROVER_USER="1000:-1" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (gid "-1" is outside 0…4294967294)`),
			invalid("nobody-such-user", `DROVER_USER="nobody-such-user" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (no user "nobody-such-user" in /etc/passwd)`),
			invalid("root:nobody-such-group", `DROVER_USER="root:nobody-such-group" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (no group "nobody-such-group" in /etc/group)`),
			invalid(":0", `DROVER_USER=":0" is not valid; accepted: uid[:gid] (0 to 4294967294) or a user[:group] name (no user "" in /etc/passwd)`),
		},
		"DROVER_WORKER_OOM_SCORE_ADJ": {
			valid("auto", func(s *Settings) bool { return !s.WorkerOOMScoreAdj.Off && s.WorkerOOMScoreAdj.Score == nil }),
			valid("off", func(s *Settings) bool { return s.WorkerOOMScoreAdj.Off }),
			valid(" 1000", func(s *Settings) bool {
				o := s.WorkerOOMScoreAdj
				return o.Score != nil && *o.Score == 1000 && o.Typed == " 1000"
			}),
			valid("-1000", func(s *Settings) bool { o := s.WorkerOOMScoreAdj; return o.Score != nil && *o.Score == -1000 }),
			invalid("1001", `DROVER_WORKER_OOM_SCORE_ADJ="1001" is not valid; accepted: auto, off, or a whole number from -1000 to 1000 (above the maximum 1000)`),
			invalid("-1001", `DROVER_WORKER_OOM_SCORE_ADJ="-1001" is not valid; accepted: auto, off, or a whole number from -1000 to 1000 (below the minimum -1000)`),
			invalid("high", `DROVER_WORKER_OOM_SCORE_ADJ="high" is not valid; accepted: auto, off, or a whole number from -1000 to 1000`),
			invalid("AUTO", `DROVER_WORKER_OOM_SCORE_ADJ="AUTO" is not valid; accepted: auto, off, or a whole number from -1000 to 1000`),
			invalid("99999999999999999999", `DROVER_WORKER_OOM_SCORE_ADJ="99999999999999999999" is not valid; accepted: auto, off, or a whole number from -1000 to 1000 (out of range)`),
		},
		"DROVER_HEALTH_ADDR": {
			valid(":9090", func(s *Settings) bool { return s.HealthAddr == ":9090" }),
			valid("off", func(s *Settings) bool { return s.HealthAddr == "" }),
		},
		"DROVER_READY": {
			valid("notify", func(s *Settings) bool { return s.Ready == Notify }),
			valid("started", func(s *Settings) bool { return s.Ready == Started }),
			valid("listening", func(s *Settings) bool { return s.Ready == Listening }),
			invalid("ready", `DROVER_READY="ready" is not valid; accepted: started, notify or listening`),
			invalid("true", `DROVER_READY="true" is not valid; accepted: started, notify or listening`),
		},
		"DROVER_READY_DELAY": {
			valid("2s", dur(func(s *Settings) time.Duration { return time.Duration(s.ReadyDelay) }, 2*time.Second)),
			invalid("-1s", `DROVER_READY_DELAY="-1s" is not valid; accepted: a duration such as 0s, 500ms, 2s (negative)`),
			invalid("2", `DROVER_READY_DELAY="2" is not valid; accepted: a duration such as 0s, 500ms, 2s`),
			invalid("soon", `DROVER_READY_DELAY="soon" is not valid; accepted: a duration such as 0s, 500ms, 2s`),
			invalid("9999999999h", `DROVER_READY_DELAY="9999999999h" is not valid; accepted: a duration such as 0s, 500ms, 2s`),
		},
		"DROVER_STARTUP_TIMEOUT": {
			valid("90s", dur(func(s *Settings) time.Duration { return time.Duration(s.StartupTimeout) }, 90*time.Second)),
			invalid("0s", `DROVER_STARTUP_TIMEOUT="0s" is not valid; accepted: a duration > 0 such as 60s (must be more than 0)`),
			invalid("-5s", `DROVER_STARTUP_TIMEOUT="-5s" is not valid; accepted: a duration > 0 such as 60s (must be more than 0)`),
			invalid("later", `DROVER_STARTUP_TIMEOUT="later" is not valid; accepted: a duration > 0 such as 60s`),
		},
		"DROVER_WATCHDOG": {
			valid("10s", dur(func(s *Settings) time.Duration { return time.Duration(s.Watchdog) }, 10*time.Second)),
			invalid("-10s", `DROVER_WATCHDOG="-10s" is not valid; accepted: a duration such as 0s (off) or 10s (negative)`),
			invalid("10", `DROVER_WATCHDOG="10" is not valid; accepted: a duration such as 0s (off) or 10s`),
		},
		"DROVER_MIN_READY": {
			valid("2", func(s *Settings) bool { return s.MinReady == MinReady{N: 2} }),
			valid("100%", func(s *Settings) bool { return s.MinReady == MinReady{N: 100, Percent: true} }),
			invalid("101%", `DROVER_MIN_READY="101%" is not valid; accepted: a count such as 2, or a percentage such as 50%`),
			invalid("-1", `DROVER_MIN_READY="-1" is not valid; accepted: a count such as 2, or a percentage such as 50%`),
			invalid("half", `DROVER_MIN_READY="half" is not valid; accepted: a count such as 2, or a percentage such as 50%`),
		},
		"DROVER_RESTART": {
			valid("always", func(s *Settings) bool { return s.Restart == Always }),
			valid("on-failure", func(s *Settings) bool { return s.Restart == OnFailure }),
			valid("never", func(s *Settings) bool { return s.Restart == Never }),
			invalid("sometimes", `DROVER_RESTART="sometimes" is not valid; accepted: always, on-failure or never`),
		},
		"DROVER_BACKOFF_MAX": {
			valid("100ms", dur(func(s *Settings) time.Duration { return time.Duration(s.BackoffMax) }, 100*time.Millisecond)),
			valid("5m", dur(func(s *Settings) time.Duration { return time.Duration(s.BackoffMax) }, 5*time.Minute)),
			invalid("99ms", `DROVER_BACKOFF_MAX="99ms" is not valid; accepted: a duration >= 100ms (below the minimum 100ms)`),
			invalid("-1s", `DROVER_BACKOFF_MAX="-1s" is not valid; accepted: a duration >= 100ms (below the minimum 100ms)`),
			invalid("0", `DROVER_BACKOFF_MAX="0" is not valid; accepted: a duration >= 100ms (below the minimum 100ms)`),
		},
		"DROVER_CRASH_LIMIT": {
			valid("0", func(s *Settings) bool { return s.CrashLimit == 0 }),
			valid("3", func(s *Settings) bool { return s.CrashLimit == 3 }),
			invalid("-1", `DROVER_CRASH_LIMIT="-1" is not valid; accepted: a whole number >= 0 (0 = never give up) (negative)`),
			invalid("ten", `DROVER_CRASH_LIMIT="ten" is not valid; accepted: a whole number >= 0 (0 = never give up)`),
			invalid("99999999999999999999", `DROVER_CRASH_LIMIT="99999999999999999999" is not valid; accepted: a whole number >= 0 (0 = never give up) (out of range)`),
		},
		"DROVER_DRAIN_DELAY": {
			valid("5s", dur(func(s *Settings) time.Duration { return time.Duration(s.DrainDelay) }, 5*time.Second)),
			invalid("-5s", `DROVER_DRAIN_DELAY="-5s" is not valid; accepted: a duration such as 0s or 5s (negative)`),
			invalid("5", `DROVER_DRAIN_DELAY="5" is not valid; accepted: a duration such as 0s or 5s`),
		},
		"DROVER_STOP_SIGNAL": {
			valid("SIGINT", func(s *Settings) bool { return s.StopSignal == StopSignal(syscall.SIGINT) }),
			valid("QUIT", func(s *Settings) bool { return s.StopSignal == StopSignal(syscall.SIGQUIT) }),
			valid("term", func(s *Settings) bool { return s.StopSignal == StopSignal(syscall.SIGTERM) }),
			valid("sigusr1", func(s *Settings) bool { return s.StopSignal == StopSignal(syscall.SIGUSR1) }),
			valid("9", func(s *Settings) bool { return s.StopSignal == StopSignal(syscall.SIGKILL) }),
			valid("KILL", func(s *Settings) bool { return s.StopSignal == StopSignal(syscall.SIGKILL) }),
			valid("40", func(s *Settings) bool { return s.StopSignal == StopSignal(40) }),
			invalid("SIGFOO", `DROVER_STOP_SIGNAL="SIGFOO" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (no such signal)`),
			invalid("STOP", `DROVER_STOP_SIGNAL="STOP" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("SIGTSTP", `DROVER_STOP_SIGNAL="SIGTSTP" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("ttin", `DROVER_STOP_SIGNAL="ttin" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("TTOU", `DROVER_STOP_SIGNAL="TTOU" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("CHLD", `DROVER_STOP_SIGNAL="CHLD" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("SIGCONT", `DROVER_STOP_SIGNAL="SIGCONT" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("URG", `DROVER_STOP_SIGNAL="URG" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("WINCH", `DROVER_STOP_SIGNAL="WINCH" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("19", `DROVER_STOP_SIGNAL="19" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (by default this signal does not end a process)`),
			invalid("0", `DROVER_STOP_SIGNAL="0" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (no such signal)`),
			invalid("65", `DROVER_STOP_SIGNAL="65" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (no such signal)`),
			invalid("-15", `DROVER_STOP_SIGNAL="-15" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (no such signal)`),
			invalid("32", `DROVER_STOP_SIGNAL="32" is not valid; accepted: a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH (no such signal)`),
		},
		"DROVER_STOP_TIMEOUT": {
			valid("60s", dur(func(s *Settings) time.Duration { return time.Duration(s.StopTimeout) }, time.Minute)),
			valid("0s", dur(func(s *Settings) time.Duration { return time.Duration(s.StopTimeout) }, 0)),
			invalid("ten", `DROVER_STOP_TIMEOUT="ten" is not valid; accepted: a duration such as 8s`),
			invalid("-60s", `DROVER_STOP_TIMEOUT="-60s" is not valid; accepted: a duration such as 8s (negative)`),
			invalid("99999999999999999999s", `DROVER_STOP_TIMEOUT="99999999999999999999s" is not valid; accepted: a duration such as 8s`),
		},
		"DROVER_HUP": {
			valid("reload", func(s *Settings) bool { return s.HUP == Reload }),
			valid("forward", func(s *Settings) bool { return s.HUP == Forward }),
			invalid("restart", `DROVER_HUP="restart" is not valid; accepted: reload or forward`),
		},
		"DROVER_MAX_MEMORY": {
			valid("1Gi", func(s *Settings) bool { return s.MaxMemory == 1<<30 }),
			invalid("1 gigabyte", `DROVER_MAX_MEMORY="1 gigabyte" is not valid; accepted: bytes, optionally with a unit: 512Mi, 1Gi, 500M (not a positive size)`),
			invalid("0", `DROVER_MAX_MEMORY="0" is not valid; accepted: bytes, optionally with a unit: 512Mi, 1Gi, 500M (not a positive size)`),
		},
		"DROVER_LOG_FORMAT": {
			valid("json", func(s *Settings) bool { return s.LogFormat == "json" }),
			valid("text", func(s *Settings) bool { return s.LogFormat == "text" }),
			invalid("xml", `DROVER_LOG_FORMAT="xml" is not valid; accepted: text or json`),
		},
		"DROVER_LOG_LEVEL": {
			valid("debug", func(s *Settings) bool { return s.LogLevel == LogLevel(slog.LevelDebug) }),
			valid("error", func(s *Settings) bool { return s.LogLevel == LogLevel(slog.LevelError) }),
			invalid("loud", `DROVER_LOG_LEVEL="loud" is not valid; accepted: debug, info, warn or error`),
			invalid("DEBUG", `DROVER_LOG_LEVEL="DEBUG" is not valid; accepted: debug, info, warn or error`),
		},
	}
}

func TestEveryVariableIsInTheTable(t *testing.T) {
	table := everyVariable()
	for _, v := range Vars() {
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
			s, err := load(t, key+"="+tc.value)
			switch {
			case tc.ok != nil && err != nil:
				t.Errorf("%s=%q: %v", key, tc.value, err)
			case tc.ok != nil && !tc.ok(s):
				t.Errorf("%s=%q: decoded as %+v", key, tc.value, s)
			case tc.ok == nil && err == nil:
				t.Errorf("%s=%q accepted", key, tc.value)
			case tc.ok == nil && err.Error() != tc.want:
				t.Errorf("%s=%q:\ngot  %s\nwant %s", key, tc.value, err, tc.want)
			}
		}
	}
}
