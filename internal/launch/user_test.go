package launch

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// statusFile is a /proc/PID/status with the given credentials.
func statusFile(t *testing.T, uid, gid, groups, capEff string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "status")
	s := "Name:\tdrover\nUmask:\t0022\nUid:\t" + uid + "\nGid:\t" + gid + "\nFDSize:\t64\nGroups:\t" + groups + "\nCapInh:\t0\nCapPrm:\t" + capEff + "\nCapEff:\t" + capEff + "\n"
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckUser(t *testing.T) {
	const (
		none    = "0000000000000000"
		all     = "000001ffffffffff"
		docker  = "00000000a80425fb" // Docker's default set: SETUID and SETGID, no SYS_RESOURCE
		setuid  = "0000000000000080"
		nobody  = "65534\t65534\t65534\t65534"
		root    = "0\t0\t0\t0"
		noGroup = ""
	)
	cred := func(uid, gid uint32, groups ...uint32) *syscall.Credential {
		return &syscall.Credential{Uid: uid, Gid: gid, Groups: append([]uint32{}, groups...)}
	}
	for _, c := range []struct {
		name                  string
		uid, gid, groups, cap string
		cred, want            *syscall.Credential
		err                   string
	}{
		{"drover's own user and group: no calls", nobody, nobody, noGroup, none, cred(65534, 65534), nil, ""},
		{"its own, the primary group listed too", nobody, nobody, "65534", none, cred(65534, 65534), nil, ""},
		{"its own groups in another order", "1000\t1000\t1000\t1000", "1000\t1000\t1000\t1000", "27 4 1000", none, cred(1000, 1000, 4, 27, 27), nil, ""},
		{"its own user, keep groups", nobody, nobody, "5", none, &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}, nil, ""},
		{"another user without CAP_SETUID", nobody, nobody, noGroup, none, cred(0, 65534), nil,
			"drover runs as uid 65534 without CAP_SETUID; DROVER_USER can only name that user"},
		{"another group without CAP_SETGID", nobody, nobody, noGroup, setuid, cred(65534, 0), nil,
			"drover runs as gid 65534 without CAP_SETGID; DROVER_USER can only name that group"},
		{"other groups without CAP_SETGID", nobody, nobody, "4 27", setuid, cred(65534, 65534), nil,
			"drover runs with supplementary groups 4,27 and, without CAP_SETGID, cannot change them to none; leave DROVER_USER unset to run workers as drover itself"},
		{"a setuid drover", "1000\t0\t0\t0", root, noGroup, none, cred(0, 0), nil,
			"drover runs as uid 1000/0/0/0 without CAP_SETUID; DROVER_USER can only name that user"},
		{"root in Docker", root, root, noGroup, docker, cred(65534, 65534, 1), cred(65534, 65534, 1), ""},
		{"root without CAP_SETUID", root, root, noGroup, "00000000a804257b", cred(65534, 65534), nil,
			"drover runs as uid 0 without CAP_SETUID; DROVER_USER can only name that user"},
		{"CAP_SETUID only, same groups: no setgroups", root, root, noGroup, setuid, cred(65534, 0),
			&syscall.Credential{Uid: 65534, Gid: 0, NoSetGroups: true}, ""},
		{"root as root", root, root, noGroup, all, cred(0, 0), nil, ""},
	} {
		got, err := CheckUser(c.cred, statusFile(t, c.uid, c.gid, c.groups, c.cap))
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	if _, err := CheckUser(cred(0, 0), filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("no status file: no error")
	}
	for _, bad := range []string{"Uid:\t1 2\n", "Uid:\tx x x x\n", "Groups:\tx\n", "CapEff:\tzz\n", "CapEff:\n", "Name:\tx\n"} {
		p := filepath.Join(t.TempDir(), "status")
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := readStatus(p); err == nil {
			t.Errorf("readStatus accepted %q", bad)
		}
	}
	if _, err := CheckUser(cred(0, 0), "/proc/self/status"); err != nil {
		t.Errorf("the real one: %v", err)
	}
}
