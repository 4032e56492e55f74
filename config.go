package main

import (
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/listener"
	"github.com/drover-init/drover/spawn"
)

// maxWorkers is an absolute cap on the pool size. A typo such as
// DROVER_WORKERS_PER_CPU=100000 would otherwise ask for hundreds of
// thousands of processes and exhaust the container before any check of
// pids.max could help; no real pool needs more.
const maxWorkers = 4096

// Settings is every DROVER_* variable, decoded into the types the packages
// take. It is the one list: decoding, --help, the unknown-variable check and
// the README's table all come from its fields.
//
// Tags: `env` is the variable; `default` is decoded when it is unset (and
// empty counts as unset); `show` is the default as users should read it
// when it depends on the mode; `accept` is what a valid value looks like;
// `desc` is the meaning; `min`/`max` bound numbers and durations; `words`
// lists the accepted words (word=value maps a word onto the field's type).
type Settings struct {
	// Pool is false for a plain init (one child, like tini): neither
	// DROVER_LISTEN nor DROVER_WORKERS is set.
	Pool bool

	Workers        int                 `env:"DROVER_WORKERS" words:"auto=0" min:"1" max:"4096" show:"auto with DROVER_LISTEN, else 1" accept:"auto, or a whole number from 1 to 4096" desc:"how many workers; auto sizes the pool from the CPU budget"`
	WorkersMin     int                 `env:"DROVER_WORKERS_MIN" default:"1" min:"1" max:"4096" accept:"a whole number from 1 to 4096" desc:"lower clamp for auto"`
	WorkersMax     int                 `env:"DROVER_WORKERS_MAX" default:"0" min:"0" max:"4096" accept:"a whole number from 0 to 4096 (0 = no max)" desc:"upper clamp for auto"`
	PerCPU         *big.Rat            `env:"DROVER_WORKERS_PER_CPU" default:"1" accept:"a positive number up to 4096 such as 1, 2 or 1.5" desc:"workers per CPU for auto (2 for I/O-bound apps)"`
	Rounding       cpus.Rounding       `env:"DROVER_CPU_ROUNDING" default:"ceil" accept:"ceil, floor or nearest" desc:"rounding of a fractional budget; ceil drops a remainder up to 0.1 CPU (4.1 -> 4, 1.5 -> 2)"`
	CPUMillicores  int64               `env:"DROVER_CPU_MILLICORES" accept:"a whole number of millicores (<= 0 = unset)" desc:"CPU budget in millicores, for the Downward API (requests.cpu, divisor 1m)"`
	CPUFile        string              `env:"DROVER_CPU_FILE" accept:"a path to a file holding the millicores, such as a Downward API volume file" desc:"CPU budget in millicores, re-read while running (the kubelet updates the file on an in-place resize; env vars are not)"`
	CPURecheck     time.Duration       `env:"DROVER_CPU_RECHECK" default:"10s" min:"0s" accept:"a duration such as 10s; 0 turns it off" desc:"with DROVER_WORKERS=auto, how often the CPU budget is read again (also on SIGHUP)"`
	WorkerMemory   ByteSize            `env:"DROVER_WORKER_MEMORY" accept:"bytes, optionally with a unit: 512Mi, 1Gi, 500M" desc:"memory per worker; caps auto at the cgroup memory limit / this"`
	Listen         []listener.Spec     `env:"DROVER_LISTEN" show:"unset" accept:"comma list of [name=]tcp://host:port, :port, [name=]unix:///path, fd://N" desc:"sockets opened once and passed to every worker as fds 3, 4, ... (systemd LISTEN_FDS)"`
	Reuseport      bool                `env:"DROVER_REUSEPORT" default:"false" accept:"true or false" desc:"one SO_REUSEPORT socket per worker slot instead of one shared socket"`
	Credential     *syscall.Credential `env:"DROVER_USER" accept:"uid[:gid] (0 to 4294967294) or a user[:group] name" desc:"workers run with these credentials; drover keeps its own"`
	HealthAddr     string              `env:"DROVER_HEALTH_ADDR" show:":8081 (pool), off (plain init)" accept:"host:port, :port or off" desc:"address of /livez, /readyz, /status, /metrics"`
	Ready          string              `env:"DROVER_READY" words:"started notify listening" show:"listening with DROVER_LISTEN, else started" accept:"started, notify or listening" desc:"started: ready after DROVER_READY_DELAY; notify: ready on sd_notify READY=1; listening: ready once the worker waits for connections on drover's sockets (or sends READY=1)"`
	ReadyDelay     time.Duration       `env:"DROVER_READY_DELAY" default:"0s" min:"0s" accept:"a duration such as 0s, 500ms, 2s" desc:"see DROVER_READY"`
	StartupTimeout time.Duration       `env:"DROVER_STARTUP_TIMEOUT" default:"60s" min:"1ns" accept:"a duration > 0 such as 60s" desc:"a worker not ready by then is killed and counts as a failed start"`
	Watchdog       time.Duration       `env:"DROVER_WATCHDOG" default:"0s" min:"0s" accept:"a duration such as 0s (off) or 10s" desc:"workers get WATCHDOG_USEC; one silent for this long is killed and restarted"`
	MinReady       health.MinReady     `env:"DROVER_MIN_READY" default:"50%" accept:"a count such as 2, or a percentage such as 50%" desc:"/readyz passes when at least this many workers are ready (percent rounds up)"`
	Restart        spawn.Policy        `env:"DROVER_RESTART" show:"never (plain init), always (pool)" accept:"always, on-failure or never" desc:"which worker exits are followed by a restart"`
	BackoffMax     time.Duration       `env:"DROVER_BACKOFF_MAX" default:"30s" min:"100ms" accept:"a duration >= 100ms" desc:"restart delay doubles from 100ms up to this; resets once a worker stays ready 30s"`
	CrashLimit     int                 `env:"DROVER_CRASH_LIMIT" default:"10" min:"0" accept:"a whole number >= 0 (0 = never give up)" desc:"consecutive failed starts of a worker after which drover exits with its status"`
	DrainDelay     time.Duration       `env:"DROVER_DRAIN_DELAY" default:"0s" min:"0s" accept:"a duration such as 0s or 5s" desc:"on SIGTERM: fail /readyz, keep serving this long, then stop the workers"`
	StopSignal     syscall.Signal      `env:"DROVER_STOP_SIGNAL" default:"SIGTERM" accept:"a signal that ends a process by default, by name (SIGTERM, TERM, SIGINT, SIGQUIT, SIGKILL) or number; not STOP, TSTP, TTIN, TTOU, CHLD, CONT, URG or WINCH" desc:"what workers get on shutdown and when replaced"`
	StopTimeout    time.Duration       `env:"DROVER_STOP_TIMEOUT" default:"8s" min:"0s" accept:"a duration such as 8s" desc:"then SIGKILL to the worker's process group"`
	HUPReload      bool                `env:"DROVER_HUP" words:"reload=true forward=false" show:"reload (pool), forward (plain init)" accept:"reload or forward" desc:"SIGHUP: rolling zero-downtime reload, or forward to the workers"`
	MaxMemory      ByteSize            `env:"DROVER_MAX_MEMORY" accept:"bytes, optionally with a unit: 512Mi, 1Gi, 500M" desc:"a worker whose resident memory exceeds this is replaced gracefully"`
	LogFormat      string              `env:"DROVER_LOG_FORMAT" default:"text" words:"text json" accept:"text or json" desc:"format of drover's own log lines on stderr"`
	LogLevel       slog.Level          `env:"DROVER_LOG_LEVEL" show:"info (pool), warn (plain init)" accept:"debug, info, warn or error" desc:"least severe of drover's own log lines shown"`
}

// ConfigError is a bad value: exit 2 with one line naming the variable, the
// value as typed and what is accepted.
type ConfigError struct {
	Var, Value, Accept, Detail string
	Unknown                    bool // no such variable
}

func (e *ConfigError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("%s=%q: no such variable; %s", e.Var, e.Value, e.Detail)
	}
	msg := fmt.Sprintf("%s=%q is not valid; accepted: %s", e.Var, e.Value, e.Accept)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// configVar is one variable, read from a Settings field's tags.
type configVar struct {
	Key, Field, Default, Show, Accept, Desc string
	index                                   int
	tag                                     reflect.StructTag
}

// configVars lists the variables from the struct itself, so the names used
// for decoding, help and errors cannot drift apart.
func configVars() []configVar {
	t := reflect.TypeFor[Settings]()
	var out []configVar
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("env")
		if key == "" {
			continue
		}
		out = append(out, configVar{
			Key: key, Field: f.Name, Default: f.Tag.Get("default"), Show: f.Tag.Get("show"),
			Accept: f.Tag.Get("accept"), Desc: f.Tag.Get("desc"), index: i, tag: f.Tag,
		})
	}
	return out
}

// lookupVar finds a variable by its field name, for cross-field errors.
func lookupVar(fieldName string) configVar {
	for _, v := range configVars() {
		if v.Field == fieldName {
			return v
		}
	}
	panic("config: no field " + fieldName) // a typo in this package, caught by any test
}

// bad is the error for a field's value as the user typed it.
func bad(fieldName, value, detail string) error {
	v := lookupVar(fieldName)
	return &ConfigError{Var: v.Key, Value: value, Accept: v.Accept, Detail: detail}
}

// LoadConfig reads and checks every DROVER_* variable of environ (KEY=VALUE
// items, as os.Environ gives them). It reads nothing else but the user and
// group databases for DROVER_USER. An empty value is the same as unset.
func LoadConfig(environ []string) (*Settings, error) {
	vars := configVars()
	if err := unknownVars(environ, vars); err != nil {
		return nil, err
	}
	vals := envValues(environ)
	s := &Settings{}
	sv := reflect.ValueOf(s).Elem()
	raw := map[string]string{} // field name -> value as typed, for cross-field errors
	for _, v := range vars {
		value, set := vals[v.Key]
		if !set {
			if v.Default == "" {
				continue // mode default, or the zero value
			}
			value = v.Default
		}
		raw[v.Field] = value
		if err := decodeField(sv.Field(v.index), v, value); err != nil {
			return nil, err
		}
	}
	_, listen := vals["DROVER_LISTEN"]
	_, workers := vals["DROVER_WORKERS"]
	s.Pool = listen || workers
	modeDefaults(s, vals)
	if err := crossCheck(s, raw); err != nil {
		return nil, err
	}
	return s, nil
}

// envValues picks the DROVER_* variables out of environ. The first of
// duplicates wins, as for getenv; blank values are dropped, because
// templated manifests produce them for "not set".
func envValues(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "DROVER_") || strings.TrimSpace(v) == "" {
			continue
		}
		if _, dup := out[k]; !dup {
			out[k] = v
		}
	}
	return out
}

// unknownVars rejects a DROVER_* variable drover does not know: a typo
// would otherwise be silently ignored.
func unknownVars(environ []string, vars []configVar) error {
	known := map[string]bool{"DROVER_WORKER_ID": true}
	var names []string
	for _, v := range vars {
		known[v.Key] = true
		names = append(names, v.Key)
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "DROVER_") || known[k] {
			continue
		}
		hint := "see drover --help for the variables"
		if near := closest(k, names); near != "" {
			hint = "did you mean " + near + "?"
		}
		return &ConfigError{Var: k, Value: v, Unknown: true, Detail: hint}
	}
	return nil
}

// closest is the known name with the smallest edit distance, if close.
func closest(k string, names []string) string {
	if len(k) > 64 {
		return "" // no variable is that long; spare the quadratic distance
	}
	best, bestD := "", 4
	for _, n := range names {
		if d := editDistance(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Usage prints every variable with its default, from the struct's tags.
func Usage(w io.Writer) {
	for _, v := range configVars() {
		fmt.Fprintf(w, "  %s (default: %s)\n      %s; accepted: %s\n", v.Key, v.shown(), v.Desc, v.Accept)
	}
}

// shown is the default as a user should read it.
func (v configVar) shown() string {
	switch {
	case v.Show != "":
		return v.Show
	case v.Default != "":
		return v.Default
	}
	return "unset"
}
