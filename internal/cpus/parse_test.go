package cpus

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/sys/fs/cgroup/cpu`:        "/sys/fs/cgroup/cpu",
		`/sys/fs/cgroup/cpu\040x`:   "/sys/fs/cgroup/cpu x",
		`/a\011b\012c\134d`:         "/a\tb\nc\\d",
		`\040`:                      " ",
		`/docker/abc//deleted`:      "/docker/abc//deleted",
		`/x\040(deleted)`:           "/x (deleted)",
		`/ends\134`:                 `/ends\`,
		`/hi\150\151`:               "/hihi",
		`/\101\102\103`:             "/ABC",
		`/mixed\040and\040spaces\\`: "", // error below
	} {
		got, err := unescape(in)
		if want == "" {
			if err == nil {
				t.Errorf("unescape(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("unescape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`\`, `\04`, `/x\0`, `\08a`, `\400`, `\999`, `\x20`} {
		if got, err := unescape(bad); !errors.Is(err, errBadEscape) {
			t.Errorf("unescape(%q) = %q, %v; want errBadEscape", bad, got, err)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	data := "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"40 33 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid shared:3 master:11 - cgroup cgroup rw,cpu,cpuacct\n" +
		"29 23 0:26 / /sys/fs/cgroup ro - cgroup2 cgroup rw,nsdelegate\n" +
		"32 31 0:29 /a\\040b /sys/fs/cgroup/cpu\\040x rw,relatime - cgroup cgroup rw,cpu\n" +
		"\n" +
		"1 2 3 4 5 6 7 8 9\n" + // no separator
		"1 2 3 / /x rw - cgroup\n" + // separator but too few fields after it
		"1 2 3 /\\9 /x rw - cgroup cgroup rw,cpu\n" // bad escape
	mounts, errs := parseMountinfo(data)
	want := []mount{
		{root: "/mnt1", point: "/mnt2", fstype: "ext3", superOpts: []string{"rw", "errors=continue"}},
		{root: "/docker/abc", point: "/sys/fs/cgroup/cpu,cpuacct", fstype: "cgroup", superOpts: []string{"rw", "cpu", "cpuacct"}},
		{root: "/", point: "/sys/fs/cgroup", fstype: "cgroup2", superOpts: []string{"rw", "nsdelegate"}},
		{root: "/a b", point: "/sys/fs/cgroup/cpu x", fstype: "cgroup", superOpts: []string{"rw", "cpu"}},
	}
	if !reflect.DeepEqual(mounts, want) {
		t.Errorf("mounts:\n got %+v\nwant %+v", mounts, want)
	}
	if len(errs) != 3 {
		t.Errorf("got %d errors, want 3: %v", len(errs), errs)
	}
	for _, e := range errs {
		if !strings.HasPrefix(e.Error(), "line ") {
			t.Errorf("error %q does not say which line", e)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	got, errs := parseProcCgroup("12:memory:/docker/abc\n4:cpu,cpuacct:/a:b\n1:name=systemd:/\n0::/init\ngarbage\n:x:/\n")
	want := []procCgroup{
		{id: "12", controllers: []string{"memory"}, path: "/docker/abc"},
		{id: "4", controllers: []string{"cpu", "cpuacct"}, path: "/a:b"},
		{id: "1", controllers: []string{"name=systemd"}, path: "/"},
		{id: "0", path: "/init"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if len(errs) != 2 {
		t.Errorf("got %d errors, want 2: %v", len(errs), errs)
	}
}

func TestRelPathAndLevels(t *testing.T) {
	for _, c := range []struct {
		p, root, rel string
		ok           bool
	}{
		{"/", "/", "", true},
		{"/a/b", "/", "/a/b", true},
		{"/a/b", "/a", "/b", true},
		{"/a/b", "/a/b", "", true},
		{"/ab", "/a", "", false}, // prefix only at a path boundary
		{"/a", "/a/b", "", false},
		{"/../../x", "/", "", false}, // V27
		{"/..", "/", "", false},      // outside, even without a name
		{"/a/../b", "/", "", false},  // never trust ".." in the middle
		{"/../../init", "/../..", "/init", true},
		{"/a//b/", "/", "/a/b", true},
	} {
		rel, ok := relPath(c.p, c.root)
		if rel != c.rel || ok != c.ok {
			t.Errorf("relPath(%q, %q) = %q, %v; want %q, %v", c.p, c.root, rel, ok, c.rel, c.ok)
		}
	}
	for _, c := range []struct {
		point, rel string
		want       []string
	}{
		{"/sys/fs/cgroup", "", []string{"/sys/fs/cgroup"}},
		{"/sys/fs/cgroup", "/a/b", []string{"/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a", "/sys/fs/cgroup"}},
		{"/", "/a/b", []string{"/a/b", "/a", "/"}},
	} {
		if got := levels(c.point, c.rel); !reflect.DeepEqual(got, c.want) {
			t.Errorf("levels(%q, %q) = %q, want %q", c.point, c.rel, got, c.want)
		}
	}
}

func TestParseFiles(t *testing.T) {
	for in, want := range map[string]int64{"150000\n": 150000, "1": 1, " 7 ": 7} {
		if got, err := parseCFSQuota(in); got != want || err != nil {
			t.Errorf("parseCFSQuota(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseCFSQuota("-1\n"); !errors.Is(err, errNoLimit) {
		t.Errorf("parseCFSQuota(-1) = %v, want errNoLimit", err)
	}
	for _, bad := range []string{"", "-2", "0", "+5", "1.5", "banana", "1 2", "99999999999999999999", "1\n2"} {
		if _, err := parseCFSQuota(bad); err == nil || errors.Is(err, errNoLimit) {
			t.Errorf("parseCFSQuota(%q) = %v, want garbage", bad, err)
		}
	}
	for _, bad := range []string{"", "0", "-1", "x"} {
		if _, err := parseCFSPeriod(bad); err == nil {
			t.Errorf("parseCFSPeriod(%q) accepted", bad)
		}
	}

	for in, want := range map[string][2]int64{"150000 100000\n": {150000, 100000}, "1 1": {1, 1}} {
		q, p, err := parseCPUMax(in)
		if err != nil || [2]int64{q, p} != want {
			t.Errorf("parseCPUMax(%q) = %d %d %v, want %v", in, q, p, err, want)
		}
	}
	for _, none := range []string{"max 100000\n", "max"} {
		if _, _, err := parseCPUMax(none); !errors.Is(err, errNoLimit) {
			t.Errorf("parseCPUMax(%q) = %v, want errNoLimit", none, err)
		}
	}
	for _, bad := range []string{"", "banana 100000", "100000", "100000 0", "0 100000", "-1 100000",
		"max 0", "max banana", "1 2 3", "100000\n100000", "100000 -5"} {
		if _, _, err := parseCPUMax(bad); err == nil || errors.Is(err, errNoLimit) {
			t.Errorf("parseCPUMax(%q) = %v, want garbage", bad, err)
		}
	}

	for in, want := range map[string]int64{"1073741824\n": 1 << 30, "0": 0, "4611686018427387903": 1<<62 - 1} {
		if got, err := parseMemory(in); got != want || err != nil {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, none := range []string{"max\n", "9223372036854771712\n", "4611686018427387904", "18446744073709551615", "99999999999999999999999"} {
		if _, err := parseMemory(none); !errors.Is(err, errNoLimit) {
			t.Errorf("parseMemory(%q) = %v, want errNoLimit", none, err)
		}
	}
	for _, bad := range []string{"", "-1", "1G", "max max", " x"} {
		if _, err := parseMemory(bad); err == nil || errors.Is(err, errNoLimit) {
			t.Errorf("parseMemory(%q) = %v, want garbage", bad, err)
		}
	}
}
