package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// MaxWorkers is an absolute cap on the pool size. A typo such as
// DROVER_WORKERS_PER_CPU=100000 would otherwise ask for hundreds of
// thousands of processes and exhaust the container before any check of
// pids.max could help; no real pool needs more.
const MaxWorkers = 4096

// MinRecheck is the shortest DROVER_CPU_RECHECK drover accepts. A reading
// walks /proc/self/cgroup, mountinfo and every quota file up to the root:
// 0.5 to 0.8 ms of CPU measured in drover on a 2-core machine, about
// 1.2 ms elsewhere. At 250 ms that is at most half a percent of one CPU
// for PID 1 doing nothing; at 1 ms it was a core and a half of readings,
// and a budget read that often sees every blip of a quota.
const MinRecheck = 250 * time.Millisecond

// DefaultHealthAddr is where a pool serves /livez, /readyz, /status and
// /metrics unless DROVER_HEALTH_ADDR says otherwise; the CLI verbs ask
// there too.
const DefaultHealthAddr = ":8081"

// prefix is what every variable's name starts with.
const prefix = "DROVER"

// Settings is every DROVER_* variable. Field names give the variable names
// through envconfig's split_words rule (CPURecheck is DROVER_CPU_RECHECK).
//
// Tags: `default` is decoded when the variable is unset; `show` is the
// default as users should read it when it depends on the mode; `accept` is
// what a valid value looks like (or the type says it: Accepted); `desc` is
// the meaning.
type Settings struct {
	// Pool is false for a plain init (one child, like tini): neither
	// DROVER_LISTEN nor DROVER_WORKERS is set.
	Pool bool `ignored:"true"`

	Workers           Workers     `split_words:"true" show:"auto with DROVER_LISTEN, else 1" desc:"how many workers; auto sizes the pool from the CPU budget"`
	WorkersMin        WorkersMin  `split_words:"true" default:"1" desc:"lower clamp for auto"`
	WorkersMax        WorkersMax  `split_words:"true" default:"0" desc:"upper clamp for auto"`
	WorkersPerCPU     PerCPU      `split_words:"true" default:"1" desc:"workers per CPU for auto (2 for I/O-bound apps)"`
	CPURounding       Rounding    `split_words:"true" default:"ceil" accept:"ceil, floor or nearest" desc:"rounding of a fractional budget; ceil drops a remainder up to 0.1 CPU (4.1 -> 4, 1.5 -> 2)"`
	CPUMillicores     Millicores  `split_words:"true" accept:"a whole number of millicores (<= 0 = unset)" desc:"CPU budget in millicores, for the Downward API (requests.cpu, divisor 1m)"`
	CPUFile           Text        `split_words:"true" accept:"a path to a file holding the millicores, such as a Downward API volume file" desc:"CPU budget in millicores, re-read while running (the kubelet updates the file on an in-place resize; env vars are not)"`
	CPURecheck        Recheck     `split_words:"true" default:"10s" desc:"with DROVER_WORKERS=auto, how often the CPU budget is read again (also on SIGHUP)"`
	WorkerMemory      ByteSize    `split_words:"true" accept:"bytes, optionally with a unit: 512Mi, 1Gi, 500M" desc:"memory per worker; caps auto at the cgroup memory limit / this"`
	Listen            Text        `split_words:"true" show:"unset" accept:"comma list of [name=]tcp://host:port, :port, [name=]unix:///path, fd://N" desc:"sockets opened once and passed to every worker as fds 3, 4, ... (systemd LISTEN_FDS)"`
	Reuseport         Bool        `split_words:"true" default:"false" accept:"true or false" desc:"one SO_REUSEPORT socket per worker slot instead of one shared socket"`
	User              User        `split_words:"true" accept:"uid[:gid] (0 to 4294967294) or a user[:group] name" desc:"workers run with these credentials; drover keeps its own"`
	WorkerOOMScoreAdj OOMScoreAdj `split_words:"true" default:"auto" accept:"auto, off, or a whole number from -1000 to 1000" desc:"oom_score_adj of every worker; auto: 500 above drover's own (at most 1000), or drover 500 lower where it has CAP_SYS_RESOURCE, so the OOM killer takes a worker before drover; off: workers inherit drover's"`
	HealthAddr        HealthAddr  `split_words:"true" accept:"host:port, :port or off" desc:"address of /livez, /readyz, /status, /metrics"`
	Ready             ReadyMode   `split_words:"true" show:"listening with DROVER_LISTEN, else started" accept:"started, notify or listening" desc:"started: ready after DROVER_READY_DELAY; notify: ready on sd_notify READY=1; listening: ready once the worker waits for connections on drover's sockets (or sends READY=1)"`
	ReadyDelay        Duration    `split_words:"true" default:"0s" accept:"a duration such as 0s, 500ms, 2s" desc:"see DROVER_READY"`
	StartupTimeout    Timeout     `split_words:"true" default:"60s" accept:"a duration > 0 such as 60s" desc:"a worker not ready by then is killed and counts as a failed start"`
	Watchdog          Duration    `split_words:"true" default:"0s" accept:"a duration such as 0s (off) or 10s" desc:"workers get WATCHDOG_USEC; one silent for this long is killed and restarted"`
	MinReady          MinReady    `split_words:"true" default:"50%" accept:"a count such as 2, or a percentage such as 50%" desc:"/readyz passes when at least this many workers are ready (percent rounds up)"`
	Restart           Restart     `split_words:"true" show:"never (plain init), always (pool)" accept:"always, on-failure or never" desc:"which worker exits are followed by a restart"`
	BackoffMax        Backoff     `split_words:"true" default:"30s" accept:"a duration >= 100ms" desc:"restart delay doubles from 100ms up to this; resets once a worker stays ready 30s"`
	CrashLimit        Count       `split_words:"true" default:"10" accept:"a whole number >= 0 (0 = never give up)" desc:"consecutive failed starts of a worker after which drover exits with its status"`
	DrainDelay        Duration    `split_words:"true" default:"0s" accept:"a duration such as 0s or 5s" desc:"on SIGTERM: fail /readyz, keep serving this long, then stop the workers"`
	StopSignal        StopSignal  `split_words:"true" default:"SIGTERM" accept:"a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH" desc:"what workers get on shutdown and when replaced"`
	StopTimeout       Duration    `split_words:"true" default:"8s" accept:"a duration such as 8s" desc:"then SIGKILL to the worker's process group"`
	HUP               HUPMode     `split_words:"true" show:"reload (pool), forward (plain init)" accept:"reload or forward" desc:"SIGHUP: rolling zero-downtime reload, or forward to the workers"`
	MaxMemory         ByteSize    `split_words:"true" accept:"bytes, optionally with a unit: 512Mi, 1Gi, 500M" desc:"a worker whose resident memory exceeds this is replaced gracefully"`
	LogFormat         LogFormat   `split_words:"true" default:"text" accept:"text or json" desc:"format of drover's own log lines on stderr"`
	LogLevel          LogLevel    `split_words:"true" show:"info (pool), warn (plain init)" accept:"debug, info, warn or error" desc:"least severe of drover's own log lines shown"`
}

// Load reads and checks every DROVER_* variable of the process environment.
// It reads nothing else but the user and group databases for DROVER_USER.
// Every error is one line naming the variable, the value as typed and what
// is accepted (a *Error).
func Load() (*Settings, error) {
	if err := checkNames(); err != nil {
		return nil, err
	}
	if err := normalize(); err != nil {
		return nil, err
	}
	s := &Settings{}
	if err := envconfig.Process(prefix, s); err != nil {
		var pe *envconfig.ParseError
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("configuration: %w", err) // a bug in Settings, caught by any test
		}
		detail := ""
		if pe.Err != nil {
			detail = pe.Err.Error()
		}
		return nil, bad(pe.KeyName, pe.Value, detail)
	}
	_, listen := os.LookupEnv("DROVER_LISTEN")
	_, workers := os.LookupEnv("DROVER_WORKERS")
	s.Pool = listen || workers
	modeDefaults(s)
	if err := crossCheck(s); err != nil {
		return nil, err
	}
	return s, nil
}

// modeDefaults fills the variables whose default depends on the mode: a
// pool restarts, serves health, reloads on HUP and logs at info; a plain
// init is as quiet and passive as tini.
func modeDefaults(s *Settings) {
	unset := func(key string) bool { _, set := os.LookupEnv(key); return !set }
	if unset("DROVER_WORKERS") {
		s.Workers = 1
		if s.Listen != "" {
			s.Workers = Auto
		}
	}
	if unset("DROVER_READY") {
		s.Ready = Started
		if s.Listen != "" {
			s.Ready = Listening
		}
	}
	if unset("DROVER_RESTART") {
		s.Restart = map[bool]Restart{true: Always, false: Never}[s.Pool]
	}
	switch {
	case unset("DROVER_HEALTH_ADDR") && s.Pool:
		s.HealthAddr = DefaultHealthAddr
	case s.HealthAddr == healthOff:
		s.HealthAddr = ""
	}
	if unset("DROVER_HUP") {
		s.HUP = map[bool]HUPMode{true: Reload, false: Forward}[s.Pool]
	}
	if unset("DROVER_LOG_LEVEL") {
		s.LogLevel = LogLevel(map[bool]slog.Level{true: slog.LevelInfo, false: slog.LevelWarn}[s.Pool])
	}
}

// crossCheck refuses values that are each valid but not together.
func crossCheck(s *Settings) error {
	if s.WorkersMax > 0 && int(s.WorkersMax) < int(s.WorkersMin) {
		return bad("DROVER_WORKERS_MAX", typed("DROVER_WORKERS_MAX"), "below DROVER_WORKERS_MIN="+typed("DROVER_WORKERS_MIN"))
	}
	if s.ReadyDelay >= Duration(s.StartupTimeout) {
		return bad("DROVER_READY_DELAY", typed("DROVER_READY_DELAY"), "must be shorter than DROVER_STARTUP_TIMEOUT="+typed("DROVER_STARTUP_TIMEOUT"))
	}
	return nil
}

// typed is a variable's value as the user typed it, or its default.
func typed(key string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return variable(key).Default
}

// CheckWorkerLimit refuses a configured pool larger than limit, the most
// workers the container can hold (pids.max, RLIMIT_NPROC); why says where
// the limit comes from ("pids.max of the cgroup is 300"). A limit <= 0
// means none is known. DROVER_WORKERS_MAX is checked too because it bounds
// SIGTTIN; auto sizing is not an error: the caller clamps it to limit.
func (s *Settings) CheckWorkerLimit(limit int, why string) error {
	if limit <= 0 {
		return nil
	}
	for _, c := range []struct {
		key string
		n   int
	}{{"DROVER_WORKERS", int(s.Workers)}, {"DROVER_WORKERS_MIN", int(s.WorkersMin)}, {"DROVER_WORKERS_MAX", int(s.WorkersMax)}} {
		if c.n > limit {
			return bad(c.key, strconv.Itoa(c.n), fmt.Sprintf("the container allows at most %d workers: %s", limit, why))
		}
	}
	return nil
}
