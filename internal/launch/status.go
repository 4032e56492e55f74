package launch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capabilities drover asks about (linux/capability.h).
const (
	capSetgid      = 6
	capSetuid      = 7
	capSysResource = 24
)

// procStatus is what /proc/self/status says about drover's credentials.
type procStatus struct {
	uids, gids [4]uint32 // real, effective, saved, filesystem
	groups     []uint32
	capEff     uint64
}

func (s procStatus) has(capability uint) bool { return s.capEff&(1<<capability) != 0 }

// readStatus parses the Uid, Gid, Groups and CapEff lines of a
// /proc/PID/status file.
func readStatus(path string) (procStatus, error) {
	var st procStatus
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		switch key {
		case "Uid", "Gid":
			if len(f) != 4 {
				return st, fmt.Errorf("%s: malformed %s line %q", path, key, val)
			}
			dst := &st.uids
			if key == "Gid" {
				dst = &st.gids
			}
			for i, s := range f {
				n, err := strconv.ParseUint(s, 10, 32)
				if err != nil {
					return st, fmt.Errorf("%s: malformed %s line %q", path, key, val)
				}
				dst[i] = uint32(n)
			}
			seen++
		case "Groups":
			for _, s := range f {
				n, err := strconv.ParseUint(s, 10, 32)
				if err != nil {
					return st, fmt.Errorf("%s: malformed Groups line %q", path, val)
				}
				st.groups = append(st.groups, uint32(n))
			}
			seen++
		case "CapEff":
			if len(f) != 1 {
				return st, fmt.Errorf("%s: malformed CapEff line %q", path, val)
			}
			n, err := strconv.ParseUint(f[0], 16, 64)
			if err != nil {
				return st, fmt.Errorf("%s: malformed CapEff line %q", path, val)
			}
			st.capEff = n
			seen++
		}
	}
	if seen != 4 {
		return st, fmt.Errorf("%s: no Uid, Gid, Groups or CapEff line", path)
	}
	return st, nil
}
