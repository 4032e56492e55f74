package main

import (
	"fmt"
	"log/slog"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/drover-init/drover/spawn"
)

// modeDefaults fills the variables whose default depends on the mode: a
// pool restarts, serves health, reloads on HUP and logs at info; a plain
// init is as quiet and passive as tini.
func modeDefaults(s *Settings, set map[string]string) {
	unset := func(key string) bool { _, ok := set[key]; return !ok }
	if unset("DROVER_WORKERS") {
		s.Workers = 1
		if len(s.Listen) > 0 {
			s.Workers = 0 // auto
		}
	}
	if unset("DROVER_READY") {
		s.Ready = "started"
		if len(s.Listen) > 0 {
			s.Ready = "listening"
		}
	}
	if unset("DROVER_RESTART") {
		s.Restart = map[bool]spawn.Policy{true: spawn.Always, false: spawn.Never}[s.Pool]
	}
	switch {
	case unset("DROVER_HEALTH_ADDR") && s.Pool:
		s.HealthAddr = ":8081"
	case strings.TrimSpace(s.HealthAddr) == "off":
		s.HealthAddr = ""
	}
	if unset("DROVER_HUP") {
		s.HUPReload = s.Pool
	}
	if unset("DROVER_LOG_LEVEL") {
		s.LogLevel = map[bool]slog.Level{true: slog.LevelInfo, false: slog.LevelWarn}[s.Pool]
	}
}

// crossCheck rejects values that are each valid but not together. raw is
// each field's value as typed (or its default), for the message.
func crossCheck(s *Settings, raw map[string]string) error {
	if s.WorkersMax > 0 && s.WorkersMax < s.WorkersMin {
		return bad("WorkersMax", raw["WorkersMax"], "below DROVER_WORKERS_MIN="+raw["WorkersMin"])
	}
	if s.ReadyDelay >= s.StartupTimeout {
		return bad("ReadyDelay", raw["ReadyDelay"], "must be shorter than DROVER_STARTUP_TIMEOUT="+raw["StartupTimeout"])
	}
	return nil
}

// checkWorkerLimit refuses a configured pool larger than limit, the most
// workers the container can hold (pids.max, RLIMIT_NPROC); why says where
// the limit comes from ("pids.max of the cgroup is 300"). A limit <= 0
// means none is known. DROVER_WORKERS_MAX is checked too because it bounds
// SIGTTIN; auto sizing is not an error: the caller clamps it to limit.
func checkWorkerLimit(s *Settings, limit int, why string) error {
	if limit <= 0 {
		return nil
	}
	for _, c := range []struct {
		field string
		n     int
	}{{"Workers", s.Workers}, {"WorkersMin", s.WorkersMin}, {"WorkersMax", s.WorkersMax}} {
		if c.n > limit {
			v := lookupVar(c.field)
			return &ConfigError{Var: v.Key, Value: strconv.Itoa(c.n), Accept: v.Accept,
				Detail: fmt.Sprintf("the container allows at most %d workers: %s", limit, why)}
		}
	}
	return nil
}

// maxID is the largest uid or gid a process can have: (uid_t)-1 means
// "unchanged" to setresuid, and anything wider wraps (4294967296 is root).
const maxID = 1<<32 - 2

// lookupUser resolves DROVER_USER: uid[:gid] or a user[:group] name, with
// the user's supplementary groups (none for a bare uid not in /etc/passwd).
// Names are resolved now so that a typo stops drover at start, not every
// worker at every start.
func lookupUser(spec string) (*syscall.Credential, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	var u *user.User
	if looksNumeric(name) {
		if _, err := parseID(name); err != nil {
			return nil, fmt.Errorf("uid %s", err)
		}
		var err error
		if u, err = user.LookupId(name); err != nil {
			u = &user.User{Uid: name, Gid: name}
		}
	} else {
		var err error
		if u, err = user.Lookup(name); err != nil {
			return nil, fmt.Errorf("no user %q in /etc/passwd", name)
		}
	}
	uid, err := parseID(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("uid %s in /etc/passwd", err)
	}
	gid, err := parseID(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("gid %s in /etc/passwd", err)
	}
	if hasGroup {
		switch {
		case looksNumeric(group):
			if gid, err = parseID(group); err != nil {
				return nil, fmt.Errorf("gid %s", err)
			}
		default:
			g, err := user.LookupGroup(group)
			if err != nil {
				return nil, fmt.Errorf("no group %q in /etc/group", group)
			}
			if gid, err = parseID(g.Gid); err != nil {
				return nil, fmt.Errorf("gid %s in /etc/group", err)
			}
		}
	}
	cred := &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	if ids, err := u.GroupIds(); err == nil && !hasGroup {
		for _, id := range ids {
			if n, err := parseID(id); err == nil && n != cred.Gid {
				cred.Groups = append(cred.Groups, n)
			}
		}
	}
	return cred, nil
}

// looksNumeric is true for what a user meant as an id ("-1", "+5", "99"),
// so that it is range-checked rather than looked up as a name.
func looksNumeric(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseID reads a uid or gid in 0…4294967294.
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > maxID || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is outside 0…%d", s, uint64(maxID))
	}
	return uint32(n), nil
}
