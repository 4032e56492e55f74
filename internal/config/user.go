package config

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// StopSignal is DROVER_STOP_SIGNAL: TERM, SIGTERM, term or 15. Only a
// signal whose default action ends a process is accepted: a worker that
// ignores the stop signal is what the stop timeout is for, but a stop
// signal that can never end any worker (STOP, CHLD, ...) makes every stop
// wait the whole timeout.
type StopSignal syscall.Signal

func (st *StopSignal) Decode(s string) error {
	s = strings.TrimSpace(s)
	var sig syscall.Signal
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 || (n < 34 && unix.SignalName(syscall.Signal(n)) == "") {
			return errors.New("no such signal")
		}
		sig = syscall.Signal(n)
	} else {
		name := strings.ToUpper(s)
		if !strings.HasPrefix(name, "SIG") {
			name = "SIG" + name
		}
		if sig = unix.SignalNum(name); sig == 0 {
			return errors.New("no such signal")
		}
	}
	switch sig {
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH:
		return errors.New("by default this signal does not end a process")
	}
	*st = StopSignal(sig)
	return nil
}

// User is DROVER_USER: the credentials workers run with; a nil Credential
// when unset.
type User struct{ *syscall.Credential }

// maxID is the largest uid or gid a process can have: (uid_t)-1 means
// "unchanged" to setresuid, and anything wider wraps (4294967296 is root).
const maxID = 1<<32 - 2

// Decode resolves uid[:gid] or a user[:group] name, with the user's
// supplementary groups (none for a bare uid not in /etc/passwd). Names are
// resolved now so that a typo stops drover at start, not every worker at
// every start.
func (u *User) Decode(spec string) error {
	name, group, hasGroup := strings.Cut(strings.TrimSpace(spec), ":")
	var pw *user.User
	if looksNumeric(name) {
		if _, err := parseID(name); err != nil {
			return fmt.Errorf("uid %w", err)
		}
		var err error
		if pw, err = user.LookupId(name); err != nil {
			pw = &user.User{Uid: name, Gid: name}
		}
	} else {
		var err error
		if pw, err = user.Lookup(name); err != nil {
			return fmt.Errorf("no user %q in /etc/passwd", name)
		}
	}
	uid, err := parseID(pw.Uid)
	if err != nil {
		return fmt.Errorf("uid %w in /etc/passwd", err)
	}
	gid, err := parseID(pw.Gid)
	if err != nil {
		return fmt.Errorf("gid %w in /etc/passwd", err)
	}
	if hasGroup {
		if looksNumeric(group) {
			if gid, err = parseID(group); err != nil {
				return fmt.Errorf("gid %w", err)
			}
		} else {
			g, err := user.LookupGroup(group)
			if err != nil {
				return fmt.Errorf("no group %q in /etc/group", group)
			}
			if gid, err = parseID(g.Gid); err != nil {
				return fmt.Errorf("gid %w in /etc/group", err)
			}
		}
	}
	cred := &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	if ids, err := pw.GroupIds(); err == nil && !hasGroup {
		for _, id := range ids {
			if n, err := parseID(id); err == nil && n != cred.Gid {
				cred.Groups = append(cred.Groups, n)
			}
		}
	}
	u.Credential = cred
	return nil
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
