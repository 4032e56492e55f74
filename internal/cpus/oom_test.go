package cpus

import (
	"strings"
	"testing"
)

func TestParseOOMKill(t *testing.T) {
	for in, want := range map[string]uint64{
		"oom_kill_disable 0\nunder_oom 0\noom_kill 13\n":                                13,
		"low 0\nhigh 0\nmax 5\noom 3\noom_kill 2\noom_group_kill 7\n":                   2,
		"oom_group_kill 7\noom_kill 0\n":                                                0,
		"oom_kill 18446744073709551615":                                                 1<<64 - 1,
		"low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\noom_group_kill 0\nsock_throttled 0\n": 1,
	} {
		if got, err := parseOOMKill(in); err != nil || got != want {
			t.Errorf("parseOOMKill(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "oom_kill_disable 0\nunder_oom 0\n", "oom_kill -1\n", "oom_kill x\n", "oom_kill \n", "oom_kill +1\n"} {
		if got, err := parseOOMKill(in); err == nil {
			t.Errorf("parseOOMKill(%q) = %d, want an error", in, got)
		}
	}
}

const (
	v1MemLeaf = "/sys/fs/cgroup/memory/pod/app"
	v2Leaf    = "/sys/fs/cgroup/pod/app"
)

func v1MemoryTree(t *testing.T, oomControl, limit string) string {
	root := t.TempDir()
	materialize(t, root, map[string]string{
		"/proc/self/cgroup":                               "4:memory:/pod/app\n1:cpu:/\n",
		"/proc/self/mountinfo":                            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
		v1MemLeaf + "/memory.oom_control":                 oomControl,
		v1MemLeaf + "/memory.limit_in_bytes":              "9223372036854771712\n",
		"/sys/fs/cgroup/memory/pod/memory.limit_in_bytes": limit,
	})
	return root
}

// A kill counted in drover's own v1 cgroup is seen once, with the limit
// that applies (set on the parent here, as a pod's is).
func TestOOMWatchV1(t *testing.T) {
	root := v1MemoryTree(t, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "100663296\n")
	r := Reader{Root: root, Warn: func(s string) { t.Errorf("warning: %s", s) }}
	if n, file, ok := r.OOMKills(); !ok || n != 2 || file != v1MemLeaf+"/memory.oom_control" {
		t.Fatalf("OOMKills() = %d, %q, %v", n, file, ok)
	}
	w := NewOOMWatch(r)
	if n, limit := w.Killed(); n != 0 || limit != "" {
		t.Errorf("no new kill: Killed() = %d, %q", n, limit)
	}
	materialize(t, root, map[string]string{v1MemLeaf + "/memory.oom_control": "oom_kill_disable 0\nunder_oom 1\noom_kill 3\n"})
	n, limit := w.Killed()
	want := "memory limit 96Mi: cgroup v1 memory.limit_in_bytes 100663296 at /sys/fs/cgroup/memory/pod"
	if n != 1 || limit != want {
		t.Errorf("after a kill: Killed() = %d, %q; want 1, %q", n, limit, want)
	}
	if n, _ := w.Killed(); n != 0 {
		t.Errorf("the same kill counted again: %d", n)
	}
}

func TestOOMWatchV2(t *testing.T) {
	root := t.TempDir()
	materialize(t, root, map[string]string{
		"/proc/self/cgroup":       "0::/pod/app\n",
		"/proc/self/mountinfo":    "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
		v2Leaf + "/memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
		v2Leaf + "/memory.max":    "max\n",
	})
	r := Reader{Root: root, Warn: func(s string) { t.Errorf("warning: %s", s) }}
	w := NewOOMWatch(r)
	materialize(t, root, map[string]string{v2Leaf + "/memory.events": "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n"})
	// No limit anywhere that drover can see (the kill came from a limit
	// above the namespace root): the counter's file is named instead.
	if n, limit := w.Killed(); n != 2 || limit != "counted in "+v2Leaf+"/memory.events" {
		t.Errorf("Killed() = %d, %q", n, limit)
	}
}

// No memory cgroup, a v1 kernel without the counter, garbage: never a kill.
func TestOOMWatchWithoutCounter(t *testing.T) {
	var warnings []string
	r := Reader{Root: t.TempDir(), Warn: func(s string) { warnings = append(warnings, s) }}
	w := NewOOMWatch(r)
	if n, _ := w.Killed(); n != 0 {
		t.Errorf("no cgroups: %d kills", n)
	}
	root := v1MemoryTree(t, "oom_kill_disable 0\nunder_oom 0\n", "max\n")
	r.Root = root
	w = NewOOMWatch(r)
	if n, _ := w.Killed(); n != 0 || len(warnings) != 0 {
		t.Errorf("kernel before 4.13: %d kills, warnings %q", n, warnings)
	}
	materialize(t, root, map[string]string{v1MemLeaf + "/memory.oom_control": "oom_kill lots\n"})
	if n, _ := w.Killed(); n != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "memory.oom_control") {
		t.Errorf("garbage: %d kills, warnings %q", n, warnings)
	}
	// The counter back after a gap is a new baseline, not a kill.
	materialize(t, root, map[string]string{v1MemLeaf + "/memory.oom_control": "oom_kill 5\n"})
	if n, _ := w.Killed(); n != 0 {
		t.Errorf("counter back after garbage: %d kills, want a new baseline", n)
	}
}
