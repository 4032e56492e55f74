package cpus

import (
	"testing"
	"time"
)

// An in-place resize on cgroup v2 rewrites two cpu.max files, the pod's and
// the container's, one after the other (the pod's first when growing, the
// container's first when shrinking), and a reading may fall between the
// two. The budget is the tightest level at each reading; the half-done
// steps must neither shrink the pool early nor grow it before both allow.
// A container cpu.max flapping between readings keeps the larger pool.
func TestRereadV2PodResize(t *testing.T) {
	root := t.TempDir()
	const pod, ctr = "/sys/fs/cgroup/kubepods/pod1/cpu.max", "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max"
	materialize(t, root, map[string]string{
		"/proc/self/cgroup":    "0::/kubepods/pod1/ctr\n",
		"/proc/self/mountinfo": "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
		pod:                    "100000 100000\n",
		ctr:                    "100000 100000\n",
	})
	r := Reader{Root: root, Affinity: func() (int, error) { return 8, nil }, Warn: func(s string) { t.Errorf("warning: %s", s) }}
	read := func() Reading {
		t.Helper()
		rd, err := r.Read(0)
		if err != nil {
			t.Fatal(err)
		}
		return rd
	}
	f := NewFollower(1, read().Budget, MinShrinkDwell)
	at := time.Unix(1e9, 0)
	for i, s := range []struct {
		file, content string
		cores, source string
		workers       int
		changed       bool
	}{
		{pod, "200000 100000\n", "1", "cgroup v2 cpu.max 100000 100000 at /sys/fs/cgroup/kubepods/pod1/ctr", 1, false}, // growing: pod first
		{ctr, "200000 100000\n", "2", "cgroup v2 cpu.max 200000 100000 at /sys/fs/cgroup/kubepods/pod1/ctr", 2, true},  // ties name the leaf
		{ctr, "100000 100000\n", "1", "cgroup v2 cpu.max 100000 100000 at /sys/fs/cgroup/kubepods/pod1/ctr", 2, false}, // flapping…
		{ctr, "200000 100000\n", "2", "cgroup v2 cpu.max 200000 100000 at /sys/fs/cgroup/kubepods/pod1/ctr", 2, false},
		{ctr, "100000 100000\n", "1", "cgroup v2 cpu.max 100000 100000 at /sys/fs/cgroup/kubepods/pod1/ctr", 2, false}, // shrinking: container first
		{pod, "100000 100000\n", "1", "cgroup v2 cpu.max 100000 100000 at /sys/fs/cgroup/kubepods/pod1/ctr", 1, true},  // second agreeing reading
		{ctr, "max 100000\n", "1", "cgroup v2 cpu.max 100000 100000 at /sys/fs/cgroup/kubepods/pod1", 1, false},        // the pod still limits
		{pod, "300000 100000\n", "3", "cgroup v2 cpu.max 300000 100000 at /sys/fs/cgroup/kubepods/pod1", 3, true},
	} {
		materialize(t, root, map[string]string{s.file: s.content})
		rd := read()
		at = at.Add(MinShrinkDwell)
		n, changed, why := f.Observe(at, rd.Budget, rd.Size(Sizing{}))
		if got := rd.Budget.Cores.RatString(); got != s.cores || rd.Budget.Source != s.source || n != s.workers || changed != s.changed {
			t.Errorf("reading %d: %s CPUs (%s), %d workers, changed %v; want %s (%s), %d, %v",
				i, got, rd.Budget.Source, n, changed, s.cores, s.source, s.workers, s.changed)
		}
		if why != "" {
			t.Logf("drover: %s", why)
		}
	}
}
