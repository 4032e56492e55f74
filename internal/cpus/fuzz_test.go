package cpus

import (
	"math/big"
	"strings"
	"testing"
)

// The fuzz targets prove that no input makes the parsers panic or hang; a
// plain `go test` runs just their seeds, taken from every vector.

func vectorFiles(f *testing.F, name string) []string {
	var out []string
	for _, v := range loadVectors(f) {
		for path, content := range v.Files {
			if strings.HasSuffix(path, name) {
				out = append(out, content)
			}
		}
	}
	return out
}

func FuzzMountinfo(f *testing.F) {
	for _, s := range vectorFiles(f, "/proc/self/mountinfo") {
		f.Add(s)
	}
	f.Add(`1 2 3 /\040\011\012\134 /x\0 rw - cgroup cgroup rw,cpu`)
	f.Add("1 2 3 / /x rw a:b c:d - cgroup2 none rw\n\n - - - -\n")
	f.Fuzz(func(t *testing.T, data string) {
		mounts, errs := parseMountinfo(data)
		lines := strings.Count(data, "\n") + 1
		if len(mounts)+len(errs) > lines {
			t.Fatalf("%d mounts and %d errors from %d lines", len(mounts), len(errs), lines)
		}
		for _, m := range mounts {
			if m.fstype == "" || len(m.superOpts) == 0 {
				t.Fatalf("incomplete mount %+v", m)
			}
		}
	})
}

func FuzzProcCgroup(f *testing.F) {
	for _, s := range vectorFiles(f, "/proc/self/cgroup") {
		f.Add(s)
	}
	f.Add("0::/a (deleted)\n::\n1:::\n")
	f.Fuzz(func(t *testing.T, data string) {
		procs, _ := parseProcCgroup(data)
		for _, p := range procs {
			if p.id == "" {
				t.Fatalf("entry without hierarchy id: %+v", p)
			}
		}
	})
}

// FuzzCgroupFile feeds one string to every value parser: a limit is either
// absent, rejected, or positive (memory: non-negative), never zero CPUs.
func FuzzCgroupFile(f *testing.F) {
	for _, name := range []string{"cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us", "memory.max", "memory.limit_in_bytes"} {
		for _, s := range vectorFiles(f, name) {
			f.Add(s)
		}
	}
	for _, s := range []string{"max", "-1", "0", "50000 0", "9223372036854771712", "18446744073709551616", "1 1 1", "+1", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if q, p, err := parseCPUMax(data); err == nil && (q <= 0 || p <= 0) {
			t.Fatalf("parseCPUMax(%q) = %d %d", data, q, p)
		}
		if q, err := parseCFSQuota(data); err == nil && q <= 0 {
			t.Fatalf("parseCFSQuota(%q) = %d", data, q)
		}
		if p, err := parseCFSPeriod(data); err == nil && p <= 0 {
			t.Fatalf("parseCFSPeriod(%q) = %d", data, p)
		}
		if m, err := parseMemory(data); err == nil && m < 0 {
			t.Fatalf("parseMemory(%q) = %d", data, m)
		}
		if s, err := unescape(data); err == nil && len(s) > len(data) {
			t.Fatalf("unescape(%q) grew to %q", data, s)
		}
	})
}

// FuzzReader runs the whole reader over fuzzed /proc files and a fuzzed
// cpu.max at two levels: whatever they say, the budget stays within the
// affinity count and above zero, and the mapped paths stay inside Root.
func FuzzReader(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Files["/proc/self/cgroup"], v.Files["/proc/self/mountinfo"], v.Files["/sys/fs/cgroup/cpu.max"])
	}
	f.Add("0::/../x\n", "1 2 3 / /../../etc rw - cgroup2 c rw\n", "1 1")
	f.Fuzz(func(t *testing.T, cgroup, mountinfo, cpuMax string) {
		root := t.TempDir()
		materialize(t, root, map[string]string{
			"/proc/self/cgroup":                    cgroup,
			"/proc/self/mountinfo":                 mountinfo,
			"/sys/fs/cgroup/cpu.max":               cpuMax,
			"/sys/fs/cgroup/a/cpu.max":             cpuMax,
			"/sys/fs/cgroup/memory.max":            cpuMax,
			"/sys/fs/cgroup/cpu/cpu.cfs_quota_us":  cpuMax,
			"/sys/fs/cgroup/cpu/cpu.cfs_period_us": cpuMax,
		})
		warnings := map[string]bool{}
		r := Reader{
			Root:     root,
			Affinity: func() (int, error) { return 4, nil },
			Warn: func(s string) {
				if warnings[s] {
					t.Fatalf("warned twice: %s", s)
				}
				warnings[s] = true
			},
		}
		b, err := r.Budget(0)
		clear(warnings) // deduplication is per call
		if err != nil {
			t.Fatal(err)
		}
		if b.Cores.Sign() <= 0 || b.Cores.Cmp(big.NewRat(4, 1)) > 0 {
			t.Fatalf("budget %s out of (0, 4]", b)
		}
		if strings.Contains(b.Source, root) {
			t.Fatalf("source %q shows the fixture root", b.Source)
		}
		if m, _, ok := r.MemoryLimit(); ok && m < 0 {
			t.Fatalf("memory limit %d", m)
		}
		d := Size(b, Sizing{}, 0, false)
		if d.Workers < 1 || d.Workers > 4 {
			t.Fatalf("%s", d)
		}
	})
}
