package cpus

import (
	"strings"
	"testing"
)

const (
	v1PidsMountinfo = "30 23 0:27 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n"
	v2Mountinfo     = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
)

func TestWorkerLimit(t *testing.T) {
	noNproc := func() (uint64, bool) { return 0, false }
	for _, tc := range []struct {
		name    string
		files   map[string]string
		nproc   func() (uint64, bool)
		want    int
		reason  string
		warning string
	}{
		{
			name:   "nothing limits: drover's cap",
			files:  map[string]string{"/proc/self/cgroup": "0::/\n", "/proc/self/mountinfo": v2Mountinfo},
			want:   4096,
			reason: "drover's cap of 4096",
		},
		{
			name: "v1 leaf pids.max minus what is in use and the reserve, two pids a worker",
			files: map[string]string{
				"/proc/self/cgroup":                     "8:pids:/box\n",
				"/proc/self/mountinfo":                  v1PidsMountinfo,
				"/sys/fs/cgroup/pids/box/pids.max":      "300\n",
				"/sys/fs/cgroup/pids/box/pids.current":  "10\n",
				"/sys/fs/cgroup/pids/pids.current":      "900\n", // the root has no pids.max
				"/sys/fs/cgroup/pids/box/cgroup.procs":  "1\n",
				"/sys/fs/cgroup/pids/box/notify_on_rel": "0\n",
			},
			want:   (300 - 10 - pidsReserve) / 2,
			reason: "pids.max 300 (10 in use) at /sys/fs/cgroup/pids/box",
		},
		{
			name: "v1 ancestor nearly full",
			files: map[string]string{
				"/proc/self/cgroup":                      "8:pids:/pod/box\n",
				"/proc/self/mountinfo":                   v1PidsMountinfo,
				"/sys/fs/cgroup/pids/pod/box/pids.max":   "max\n",
				"/sys/fs/cgroup/pids/pod/pids.max":       "100\n",
				"/sys/fs/cgroup/pids/pod/pids.current":   "90\n",
				"/sys/fs/cgroup/pids/pod/box/pids.count": "x",
			},
			want:   0,
			reason: "pids.max 100 (90 in use) at /sys/fs/cgroup/pids/pod",
		},
		{
			name: "v2 pids.max, pids.current unreadable counts as 0",
			files: map[string]string{
				"/proc/self/cgroup":                "0::/app\n",
				"/proc/self/mountinfo":             v2Mountinfo,
				"/sys/fs/cgroup/app/pids.max":      "64\n",
				"/sys/fs/cgroup/app/pids.current":  "lots\n",
				"/sys/fs/cgroup/app/cpu.max":       "max 100000\n",
				"/sys/fs/cgroup/app/memory.max":    "max\n",
				"/sys/fs/cgroup/app/cgroup.procs":  "1\n",
				"/sys/fs/cgroup/app/cgroup.events": "populated 1\n",
			},
			want:    (64 - pidsReserve) / 2,
			reason:  "pids.max 64 (0 in use) at /sys/fs/cgroup/app",
			warning: "pids.current",
		},
		{
			name: "garbage pids.max is skipped with a warning",
			files: map[string]string{
				"/proc/self/cgroup":           "0::/app\n",
				"/proc/self/mountinfo":        v2Mountinfo,
				"/sys/fs/cgroup/app/pids.max": "-5\n",
			},
			want:    4096,
			reason:  "drover's cap",
			warning: "pids.max",
		},
		{
			name:   "RLIMIT_NPROC of a non-root user",
			files:  map[string]string{},
			nproc:  func() (uint64, bool) { return 100, true },
			want:   (100 - pidsReserve) / 2,
			reason: "RLIMIT_NPROC 100 (ulimit -u)",
		},
		{
			name: "the tighter of cgroup and RLIMIT_NPROC",
			files: map[string]string{
				"/proc/self/cgroup":           "0::/app\n",
				"/proc/self/mountinfo":        v2Mountinfo,
				"/sys/fs/cgroup/app/pids.max": "1000\n",
			},
			nproc:  func() (uint64, bool) { return 1 << 62, true },
			want:   (1000 - pidsReserve) / 2,
			reason: "pids.max 1000",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			materialize(t, root, tc.files)
			var warnings []string
			r := Reader{Root: root, Nproc: tc.nproc, Warn: func(s string) { warnings = append(warnings, s) }}
			if r.Nproc == nil {
				r.Nproc = noNproc
			}
			l := r.WorkerLimit(4096)
			if l.Workers != tc.want || !strings.HasPrefix(l.Reason, tc.reason) {
				t.Errorf("limit %d (%s), want %d (%s...)", l.Workers, l.Reason, tc.want, tc.reason)
			}
			if tc.warning == "" && len(warnings) > 0 || tc.warning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tc.warning)) {
				t.Errorf("warnings %q, want one about %q", warnings, tc.warning)
			}
		})
	}
}

// The limit caps auto sizing, with the reason in the decision.
func TestSizeCappedByLimit(t *testing.T) {
	b := budgetOf(64)
	d := Size(b, Sizing{Limit: &Limit{Workers: 10, Reason: "pids.max 40 (0 in use) at /x"}}, 0, false)
	if d.Workers != 10 || !strings.HasSuffix(d.Reason, ", capped at 10 by pids.max 40 (0 in use) at /x") {
		t.Errorf("%s", d)
	}
	if d := Size(b, Sizing{Limit: &Limit{Workers: 0, Reason: "full"}}, 0, false); d.Workers != 1 {
		t.Errorf("a full container still gets 1 worker, got %s", d)
	}
}
