package cpus

import (
	"errors"
	"fmt"
	"strings"
)

// mount is the part of a /proc/self/mountinfo line that locates a cgroup
// hierarchy: which cgroup of the hierarchy (root) is visible where (point).
type mount struct {
	root      string   // field 4, unescaped: the cgroup shown at point
	point     string   // field 5, unescaped: where it is mounted
	fstype    string   // first field after " - "
	superOpts []string // last field, split on commas (v1 controllers live here)
}

// deletedRootSuffix is how the kernel marks a mount whose root dentry was
// removed (dentry_path); such a mount no longer shows a live cgroup.
const deletedRootSuffix = "//deleted"

var errBadEscape = errors.New("invalid octal escape")

// parseMountinfo returns the mounts it could parse and one error per line it
// could not. A bad line only costs that line: mountinfo on a busy host has
// hundreds of entries that have nothing to do with cgroups.
func parseMountinfo(data string) ([]mount, []error) {
	var mounts []mount
	var errs []error
	for n, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMountinfoLine(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n+1, err))
			continue
		}
		mounts = append(mounts, m)
	}
	return mounts, errs
}

func parseMountinfoLine(line string) (mount, error) {
	f := strings.Fields(line)
	// Six fixed fields, optional fields, "-", then fstype, source, options.
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) < sep+4 {
		return mount{}, fmt.Errorf("malformed mountinfo line %q", clip(line))
	}
	root, err := unescape(f[3])
	if err != nil {
		return mount{}, fmt.Errorf("mount root %q: %w", clip(f[3]), err)
	}
	point, err := unescape(f[4])
	if err != nil {
		return mount{}, fmt.Errorf("mount point %q: %w", clip(f[4]), err)
	}
	return mount{
		root:      root,
		point:     point,
		fstype:    f[sep+1],
		superOpts: strings.Split(f[sep+3], ","),
	}, nil
}

// unescape undoes the kernel's show_path mangling, which writes space, tab,
// newline and backslash as \ooo so that fields stay space-separated. A mount
// point like "/sys/fs/cgroup/cpu x" only matches the files after this.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", errBadEscape
		}
		v := 0
		for _, c := range []byte(s[i+1 : i+4]) {
			if c < '0' || c > '7' {
				return "", errBadEscape
			}
			v = v*8 + int(c-'0')
		}
		if v > 0xff {
			return "", errBadEscape
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// contains reports whether list holds s as a whole element: "cpu" must not
// match "cpuacct" or "cpuset", which live on their own mounts on some hosts.
func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// clip keeps warnings about garbage input to one readable line.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
