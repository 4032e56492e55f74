package preinit

import (
	"errors"
	"syscall"
)

// EncodeCred passes a worker's credentials to the shim: "uid:gid:groups",
// groups comma-separated, or "-" to keep the shim's own supplementary
// groups (NoSetGroups).
func EncodeCred(c *syscall.Credential) string {
	groups := "-"
	if !c.NoSetGroups {
		g := make([]string, len(c.Groups))
		for i, n := range c.Groups {
			g[i] = u(n)
		}
		groups = join(g, ',')
	}
	return u(c.Uid) + ":" + u(c.Gid) + ":" + groups
}

func u(n uint32) string { return utoa(uint64(n)) }

var errMalformed = errors.New("malformed credentials")

func decodeCred(s string) (*syscall.Credential, error) {
	f := split(s, ':')
	if len(f) != 3 {
		return nil, errMalformed
	}
	uid, ok1 := atou32(f[0])
	gid, ok2 := atou32(f[1])
	if !ok1 || !ok2 {
		return nil, errMalformed
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: f[2] == "-"}
	if !c.NoSetGroups && f[2] != "" {
		for _, g := range split(f[2], ',') {
			n, ok := atou32(g)
			if !ok {
				return nil, errMalformed
			}
			c.Groups = append(c.Groups, uint32(n))
		}
	}
	return c, nil
}

// Creds is the process's credentials, behind an interface so that the
// order and the checks of DropTo are tested without being root.
type Creds interface {
	Setgroups([]int) error
	Setgid(int) error
	Setuid(int) error
	Get() (uid, euid, gid, egid int)
}

// OSCreds changes the credentials of every thread of the process (Go
// applies setuid and friends to all threads since 1.16).
type OSCreds struct{}

func (OSCreds) Setgroups(g []int) error { return syscall.Setgroups(g) }
func (OSCreds) Setgid(g int) error      { return syscall.Setgid(g) }
func (OSCreds) Setuid(u int) error      { return syscall.Setuid(u) }
func (OSCreds) Get() (int, int, int, int) {
	return syscall.Getuid(), syscall.Geteuid(), syscall.Getgid(), syscall.Getegid()
}

// DropTo switches to the encoded credentials in the only safe order
// (groups and gid while still privileged, uid last) and then checks the
// result, since a failed or partial drop must never lead to exec.
func DropTo(encoded string, os Creds) error {
	c, err := decodeCred(encoded)
	if err != nil {
		return err
	}
	who := "uid " + u(c.Uid) + " gid " + u(c.Gid)
	if !c.NoSetGroups {
		g := make([]int, len(c.Groups))
		for i, n := range c.Groups {
			g[i] = int(n)
		}
		if err := os.Setgroups(g); err != nil {
			return errors.New("cannot set the supplementary groups of " + who + ": " + err.Error())
		}
	}
	if err := os.Setgid(int(c.Gid)); err != nil {
		return errors.New("cannot switch to " + who + ": setgid: " + err.Error())
	}
	if err := os.Setuid(int(c.Uid)); err != nil {
		return errors.New("cannot switch to " + who + ": setuid: " + err.Error())
	}
	uid, euid, gid, egid := os.Get()
	if uid != int(c.Uid) || euid != int(c.Uid) || gid != int(c.Gid) || egid != int(c.Gid) {
		return errors.New("cannot switch to " + who + ": still uid " + itoa(uid) + "/" + itoa(euid) +
			" gid " + itoa(gid) + "/" + itoa(egid))
	}
	return nil
}
