package launch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// CheckUser says whether drover, as it runs now (its credentials and
// effective capabilities in the /proc/PID/status file at status), can
// start workers as cred (DROVER_USER), and returns the credential to start
// them with. It is nil when cred is what drover already is: then no
// setgroups, setgid or setuid is made at all, since a process without
// CAP_SETGID may not call setgroups even to keep its own groups. Becoming
// another user needs CAP_SETUID, another group or other supplementary
// groups CAP_SETGID; without them the error says why in one line, for
// drover to refuse to start rather than fail every worker.
func CheckUser(cred *syscall.Credential, status string) (*syscall.Credential, error) {
	st, err := readStatus(status)
	if err != nil {
		return nil, fmt.Errorf("cannot read drover's own credentials: %w", err)
	}
	sameUID := allEqual(st.uids, cred.Uid)
	sameGID := allEqual(st.gids, cred.Gid)
	sameGroups := cred.NoSetGroups || slices.Equal(groupSet(st.groups, cred.Gid), groupSet(cred.Groups, cred.Gid))
	if sameUID && sameGID && sameGroups {
		return nil, nil
	}
	switch {
	case !sameUID && !st.has(capSetuid):
		return nil, fmt.Errorf("drover runs as uid %s without CAP_SETUID; DROVER_USER can only name that user", ids(st.uids[:]))
	case !sameGID && !st.has(capSetgid):
		return nil, fmt.Errorf("drover runs as gid %s without CAP_SETGID; DROVER_USER can only name that group", ids(st.gids[:]))
	case !sameGroups && !st.has(capSetgid):
		return nil, fmt.Errorf("drover runs with supplementary groups %s and, without CAP_SETGID, cannot change them to %s; leave DROVER_USER unset to run workers as drover itself",
			groupList(st.groups, cred.Gid), groupList(cred.Groups, cred.Gid))
	}
	out := *cred
	if sameGroups {
		// setgroups needs CAP_SETGID even when nothing changes.
		out.NoSetGroups, out.Groups = true, nil
	}
	return &out, nil
}

func allEqual(ids [4]uint32, id uint32) bool {
	return ids == [4]uint32{id, id, id, id}
}

// ids is "65534", or "1000/0/0/0" (real/effective/saved/filesystem) where
// they differ.
func ids(v []uint32) string {
	if allEqual([4]uint32(v), v[0]) {
		return strconv.FormatUint(uint64(v[0]), 10)
	}
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.FormatUint(uint64(n), 10)
	}
	return strings.Join(s, "/")
}

// groupSet is the supplementary groups as access sees them: sorted,
// without duplicates and without the primary group, which grants the same.
func groupSet(groups []uint32, primary uint32) []uint32 {
	out := slices.DeleteFunc(slices.Clone(groups), func(g uint32) bool { return g == primary })
	slices.Sort(out)
	return slices.Compact(out)
}

func groupList(groups []uint32, primary uint32) string {
	set := groupSet(groups, primary)
	if len(set) == 0 {
		return "none"
	}
	s := make([]string, len(set))
	for i, g := range set {
		s[i] = strconv.FormatUint(uint64(g), 10)
	}
	return strings.Join(s, ",")
}
