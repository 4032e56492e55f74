package main

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/internal/health"
	"github.com/drover-init/drover/internal/listener"
	"github.com/drover-init/drover/internal/spawn"
)

// Config is every DROVER_* variable. It is the one list: --help, the
// unknown-variable check and the README's table are all generated from it.
// Tags: `default` is what envconfig fills in; `show` is the default as
// users should read it when it depends on the mode; `accept` is what a
// valid value looks like; `desc` is the meaning.
type Config struct {
	Workers        string        `split_words:"true" show:"auto with DROVER_LISTEN, else 1" accept:"auto, or a whole number >= 1" desc:"how many workers; auto sizes the pool from the CPU budget"`
	WorkersMin     int           `split_words:"true" default:"1" accept:"a whole number >= 1" desc:"lower clamp for auto"`
	WorkersMax     int           `split_words:"true" default:"0" accept:"a whole number >= 0 (0 = no max)" desc:"upper clamp for auto"`
	WorkersPerCPU  string        `split_words:"true" default:"1" accept:"a positive number such as 1, 2 or 1.5" desc:"workers per CPU for auto (2 for I/O-bound apps)"`
	CPURounding    string        `split_words:"true" default:"ceil" accept:"ceil, floor or nearest" desc:"rounding of a fractional budget; ceil drops a remainder up to 0.1 CPU (4.1 -> 4, 1.5 -> 2)"`
	CPUMillicores  int64         `split_words:"true" accept:"a whole number of millicores (<= 0 = unset)" desc:"CPU budget in millicores, for the Downward API (requests.cpu, divisor 1m)"`
	WorkerMemory   ByteSize      `split_words:"true" accept:"bytes, optionally with a unit: 512Mi, 1Gi, 500M" desc:"memory per worker; caps auto at the cgroup memory limit / this"`
	Listen         string        `show:"unset" accept:"comma list of [name=]tcp://host:port, :port, [name=]unix:///path, fd://N" desc:"sockets opened once and passed to every worker as fds 3, 4, ... (systemd LISTEN_FDS)"`
	Reuseport      bool          `default:"false" accept:"true or false" desc:"one SO_REUSEPORT socket per worker slot instead of one shared socket"`
	User           string        `accept:"uid[:gid] or a user name" desc:"workers run with these credentials; drover keeps its own"`
	HealthAddr     string        `split_words:"true" show:":8081 (pool), off (plain init)" accept:"host:port, :port or off" desc:"address of /livez, /readyz, /status, /metrics"`
	Ready          string        `default:"started" accept:"started or notify" desc:"started: ready after DROVER_READY_DELAY; notify: ready on sd_notify READY=1"`
	ReadyDelay     time.Duration `split_words:"true" default:"0s" accept:"a duration such as 0s, 500ms, 2s" desc:"see DROVER_READY"`
	StartupTimeout time.Duration `split_words:"true" default:"60s" accept:"a duration > 0 such as 60s" desc:"a worker not ready by then is killed and counts as a failed start"`
	Watchdog       time.Duration `default:"0s" accept:"a duration such as 0s (off) or 10s" desc:"workers get WATCHDOG_USEC; one silent for this long is killed and restarted"`
	MinReady       string        `split_words:"true" default:"50%" accept:"a count such as 2, or a percentage such as 50%" desc:"/readyz passes when at least this many workers are ready (percent rounds up)"`
	Restart        string        `show:"never (plain init), always (pool)" accept:"always, on-failure or never" desc:"which worker exits are followed by a restart"`
	BackoffMax     time.Duration `split_words:"true" default:"30s" accept:"a duration >= 100ms" desc:"restart delay doubles from 100ms up to this; resets once a worker stays ready 30s"`
	CrashLimit     int           `split_words:"true" default:"10" accept:"a whole number >= 0 (0 = never give up)" desc:"consecutive failed starts of a worker after which drover exits with its status"`
	DrainDelay     time.Duration `split_words:"true" default:"0s" accept:"a duration such as 0s or 5s" desc:"on SIGTERM: fail /readyz, keep serving this long, then stop the workers"`
	StopSignal     string        `split_words:"true" default:"SIGTERM" accept:"a signal name such as SIGTERM, TERM, SIGINT, SIGQUIT, or its number" desc:"what workers get on shutdown and when replaced"`
	StopTimeout    time.Duration `split_words:"true" default:"8s" accept:"a duration such as 8s" desc:"then SIGKILL to the worker's process group"`
	HUP            string        `show:"reload (pool), forward (plain init)" accept:"reload or forward" desc:"SIGHUP: rolling zero-downtime reload, or forward to the workers"`
	MaxMemory      ByteSize      `split_words:"true" accept:"bytes, optionally with a unit: 512Mi, 1Gi, 500M" desc:"a worker whose resident memory exceeds this is replaced gracefully"`
	LogFormat      string        `split_words:"true" default:"text" accept:"text or json" desc:"format of drover's own log lines on stderr"`
	LogLevel       string        `split_words:"true" show:"info (pool), warn (plain init)" accept:"debug, info, warn or error" desc:"least severe of drover's own log lines shown"`
}

// ByteSize is a memory amount in bytes, written the Kubernetes way.
type ByteSize int64

// Decode lets envconfig read 512Mi, 1G, 1048576.
func (b *ByteSize) Decode(s string) error {
	n, err := parseBytes(s)
	*b = ByteSize(n)
	return err
}

func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"", 1},
	}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n <= 0 || n > (1<<62)/u.mult {
			return 0, errors.New("not a positive size")
		}
		return n * u.mult, nil
	}
	return 0, errors.New("not a size")
}

// Settings is the validated configuration, in the types the packages take.
type Settings struct {
	Pool         bool // false: plain init (one child, like tini)
	Workers      int  // 0 = auto
	PerCPU       *big.Rat
	Restart      spawn.Policy
	HealthAddr   string // "" = off
	Notify       bool
	StopSignal   syscall.Signal
	HUPReload    bool
	Credential   *syscall.Credential
	MinReady     health.MinReady
	Rounding     cpus.Rounding
	Listen       []listener.Spec
	Raw          Config
	MaxMemory    int64
	WorkerMemory int64
}

// ConfigError is a bad value: exit 2 with one line naming the variable, the
// value and what is accepted.
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

// configVar is one variable as envconfig names it.
type configVar struct{ Key, Field, Default, Show, Accept, Desc string }

// configVars asks envconfig itself for the variable names, so the names
// used for help and errors are the ones it reads.
func configVars() []configVar {
	const tmpl = `{{range .}}{{.Key}}` + "\x1f" + `{{.Name}}` + "\x1f" +
		`{{.Tags.Get "default"}}` + "\x1f" + `{{.Tags.Get "show"}}` + "\x1f" +
		`{{.Tags.Get "accept"}}` + "\x1f" + `{{.Tags.Get "desc"}}` + "\x1e" + `{{end}}`
	var b strings.Builder
	if err := envconfig.Usagef("DROVER", &Config{}, &b, tmpl); err != nil {
		panic(err) // the struct's tags are wrong: a bug, caught by any test
	}
	var out []configVar
	for _, rec := range strings.Split(strings.TrimSuffix(b.String(), "\x1e"), "\x1e") {
		f := strings.Split(rec, "\x1f")
		out = append(out, configVar{f[0], f[1], f[2], f[3], f[4], f[5]})
	}
	return out
}

// field finds a Config field's variable name and accept text.
func field(name string) (env, accept string) {
	for _, v := range configVars() {
		if v.Field == name {
			return v.Key, v.Accept
		}
	}
	return "DROVER_" + strings.ToUpper(name), ""
}

func bad(fieldName, value, detail string) error {
	env, accept := field(fieldName)
	return &ConfigError{Var: env, Value: value, Accept: accept, Detail: detail}
}

// LoadConfig reads and checks every DROVER_* variable of the process
// environment (environ is the same environment, for the unknown-name check).
func LoadConfig(environ []string) (*Settings, error) {
	if err := unknownVars(environ); err != nil {
		return nil, err
	}
	var c Config
	if err := envconfig.Process("DROVER", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, bad(pe.FieldName, pe.Value, pe.Err.Error())
		}
		return nil, err
	}
	return validate(c)
}

// unknownVars rejects a DROVER_* variable drover does not know: a typo
// would otherwise be silently ignored.
func unknownVars(environ []string) error {
	known := map[string]bool{"DROVER_WORKER_ID": true}
	var names []string
	for _, v := range configVars() {
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

// lookupUser resolves DROVER_USER: uid[:gid] or a user name, with the
// user's supplementary groups (none for a bare uid not in /etc/passwd).
func lookupUser(spec string) (*syscall.Credential, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	var u *user.User
	var err error
	if _, nerr := strconv.Atoi(name); nerr == nil {
		u, err = user.LookupId(name)
		if err != nil {
			u = &user.User{Uid: name, Gid: name}
		}
	} else if u, err = user.Lookup(name); err != nil {
		return nil, fmt.Errorf("no user %q in /etc/passwd", name)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if hasGroup {
		if n, err := strconv.ParseUint(group, 10, 32); err == nil {
			gid = n
		} else if g, err := user.LookupGroup(group); err == nil {
			gid, _ = strconv.ParseUint(g.Gid, 10, 32)
		} else {
			return nil, fmt.Errorf("no group %q in /etc/group", group)
		}
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	if ids, err := u.GroupIds(); err == nil && !hasGroup {
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(n) != cred.Gid {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}
