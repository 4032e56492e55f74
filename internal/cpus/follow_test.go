package cpus

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func budgetOf(cores int64) Budget {
	return Budget{Cores: big.NewRat(cores, 1), Source: fmt.Sprintf("test quota %d", cores)}
}

// step feeds one reading of n CPUs (one worker per CPU) to f.
type step struct {
	cores       int64
	hup         bool // Apply instead of Observe
	wantWorkers int
	wantChanged bool
}

func TestFollower(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start int64
		steps []step
	}{
		{"grows on the first reading", 1, []step{{2, false, 2, true}, {2, false, 2, false}}},
		{"shrinks on the second agreeing reading", 2, []step{{1, false, 2, false}, {1, false, 1, true}, {1, false, 1, false}}},
		{"a flapping quota keeps the larger pool", 1, []step{
			{2, false, 2, true}, {1, false, 2, false}, {2, false, 2, false}, {1, false, 2, false},
			{2, false, 2, false}, {1, false, 2, false}, {1, false, 1, true},
		}},
		{"two different lower readings are not agreement", 4, []step{{3, false, 4, false}, {2, false, 4, false}, {2, false, 2, true}}},
		{"a steady reading resets a pending shrink", 3, []step{{1, false, 3, false}, {3, false, 3, false}, {1, false, 3, false}}},
		{"SIGHUP shrinks at once", 2, []step{{1, true, 1, true}}},
		{"SIGHUP with no change", 2, []step{{2, true, 2, false}, {1, false, 2, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// At the default recheck, the dwell is one period: two
			// readings that agree.
			f := NewFollower(int(tc.start), budgetOf(tc.start), MinShrinkDwell)
			at := time.Unix(1e9, 0)
			for i, s := range tc.steps {
				b := budgetOf(s.cores)
				d := Size(b, Sizing{}, 0, false)
				var n int
				var changed bool
				var why string
				if s.hup {
					n, changed, why = f.Apply(b, d)
				} else {
					at = at.Add(MinShrinkDwell)
					n, changed, why = f.Observe(at, b, d)
				}
				if n != s.wantWorkers || changed != s.wantChanged {
					t.Fatalf("step %d (%d CPUs): %d workers, changed %v; want %d, %v", i, s.cores, n, changed, s.wantWorkers, s.wantChanged)
				}
				if changed != (why != "") {
					t.Errorf("step %d: changed %v but why %q", i, changed, why)
				}
				if f.Workers() != n {
					t.Errorf("step %d: Workers() = %d, want %d", i, f.Workers(), n)
				}
			}
		})
	}
}

func TestFollowerWhy(t *testing.T) {
	f := NewFollower(1, budgetOf(1), time.Second)
	b := Budget{Cores: big.NewRat(2, 1), Source: "cgroup v1 quota 200000/100000 at /sys/fs/cgroup/cpu/x"}
	_, _, why := f.Observe(time.Now(), b, Size(b, Sizing{}, 0, false))
	want := "1 → 2 workers: cpu budget was 1, now 2 (cgroup v1 quota 200000/100000 at /sys/fs/cgroup/cpu/x), rounding ceil"
	if why != want {
		t.Errorf("why = %q\nwant  %q", why, want)
	}
}

// A manual TTIN/TTOU wins over periodic readings until SIGHUP.
func TestFollowerPin(t *testing.T) {
	f := NewFollower(2, budgetOf(2), shortRecheck)
	f.Pin(5)
	at := time.Unix(1e9, 0)
	for range 3 {
		at = at.Add(time.Minute)
		if n, changed, _ := f.Observe(at, budgetOf(1), Size(budgetOf(1), Sizing{}, 0, false)); n != 5 || changed {
			t.Fatalf("pinned: %d, %v; want 5, false", n, changed)
		}
	}
	if n, changed, why := f.Apply(budgetOf(3), Size(budgetOf(3), Sizing{}, 0, false)); n != 3 || !changed {
		t.Fatalf("after SIGHUP: %d, %v (%s); want 3, true", n, changed, why)
	}
	if n, changed, _ := f.Observe(at, budgetOf(4), Size(budgetOf(4), Sizing{}, 0, false)); n != 4 || !changed {
		t.Fatalf("unpinned: %d, %v; want 4, true", n, changed)
	}
}

func TestParseMillicores(t *testing.T) {
	for in, want := range map[string]int64{"1500": 1500, "1500\n": 1500, " 250 \n": 250, "1": 1} {
		if got, err := parseMillicores(in); err != nil || got != want {
			t.Errorf("parseMillicores(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "\n", "0", "-1", "+5", "1.5", "1500m", "abc", "99999999999999999999"} {
		if got, err := parseMillicores(in); err == nil {
			t.Errorf("parseMillicores(%q) = %d, want an error", in, got)
		}
	}
}

// kubeletVolume lays a Downward API volume out as the kubelet does: the
// file is a symlink through "..data", itself a symlink to a timestamped
// directory, and an update swaps "..data" atomically with rename(2).
type kubeletVolume struct {
	t   *testing.T
	dir string
	n   int
}

func newKubeletVolume(t *testing.T, content string) *kubeletVolume {
	v := &kubeletVolume{t: t, dir: t.TempDir()}
	v.write(content)
	if err := os.Symlink("..data/cpu_limit", filepath.Join(v.dir, "cpu_limit")); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *kubeletVolume) path() string { return filepath.Join(v.dir, "cpu_limit") }

func (v *kubeletVolume) write(content string) {
	v.n++
	ts := fmt.Sprintf("..2026_12_01_05_00_%02d.%d", v.n, v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		v.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.dir, ts, "cpu_limit"), []byte(content), 0o644); err != nil {
		v.t.Fatal(err)
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
}

// DROVER_CPU_FILE is followed through the kubelet's symlink swaps; garbage
// and an empty file are warned about and ignored, the other limits stay.
func TestCPUFileFollowsUpdates(t *testing.T) {
	v := newKubeletVolume(t, "1000\n")
	var warnings []string
	r := Reader{
		Root:     t.TempDir(), // no cgroups at all
		Affinity: func() (int, error) { return 8, nil },
		CPUFile:  v.path(),
		Warn:     func(s string) { warnings = append(warnings, s) },
	}
	for i, s := range []struct {
		content string // "" keeps the file as it is
		want    string
		warn    bool
	}{
		{"", "1", false},
		{"2000\n", "2", false},
		{"1500", "3/2", false},
		{"", "3/2", false},
		{"garbage\n", "8", true},
		{"\n", "8", true},
		{"250", "1/4", false},
		{"16000", "8", false}, // looser than the affinity mask
	} {
		if s.content != "" {
			v.write(s.content)
		}
		warnings = nil
		b, err := r.Budget(0)
		if err != nil {
			t.Fatal(err)
		}
		if b.Cores.RatString() != s.want {
			t.Errorf("reading %d: budget %s (%s), want %s", i, b.Cores.RatString(), b.Source, s.want)
		}
		if s.warn != (len(warnings) == 1) || len(warnings) > 1 {
			t.Errorf("reading %d: warnings %q, want one: %v", i, warnings, s.warn)
		}
		for _, w := range warnings {
			if !strings.Contains(w, "DROVER_CPU_FILE "+v.path()) {
				t.Errorf("warning %q does not name DROVER_CPU_FILE and its path", w)
			}
		}
		if s.want == "3/2" && b.Source != "DROVER_CPU_FILE "+v.path()+" = 1500m" {
			t.Errorf("source %q", b.Source)
		}
	}
	r.CPUFile = filepath.Join(v.dir, "missing")
	warnings = nil
	if b, _ := r.Budget(0); b.Cores.RatString() != "8" || len(warnings) != 1 {
		t.Errorf("missing file: budget %s, warnings %q; want 8 and one warning", b.Cores.RatString(), warnings)
	}
}

// Rewriting cpu.max between readings (cgroup v2, as the kubelet does on an
// in-place resize) and moving drover to another cgroup both show up in the
// next reading, memory included.
func TestRereadV2(t *testing.T) {
	root := t.TempDir()
	materialize(t, root, map[string]string{
		"/proc/self/cgroup":                 "0::/pod/app\n",
		"/proc/self/mountinfo":              "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
		"/sys/fs/cgroup/pod/app/cpu.max":    "100000 100000\n",
		"/sys/fs/cgroup/pod/app/memory.max": "1073741824\n",
		"/sys/fs/cgroup/pod/other/cpu.max":  "300000 100000\n",
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
	set := func(file, content string) { materialize(t, root, map[string]string{file: content}) }
	for i, s := range []struct {
		file, content string
		cores         string
		workers       int
		memOK         bool
	}{
		{"/sys/fs/cgroup/pod/app/cpu.max", "200000 100000\n", "2", 2, true},
		{"/sys/fs/cgroup/pod/app/cpu.max", "max 100000\n", "8", 4, true}, // memory: 1Gi / 256Mi
		{"/sys/fs/cgroup/pod/app/memory.max", "max\n", "8", 8, false},
		{"/proc/self/cgroup", "0::/pod/other\n", "3", 8, false}, // first lower reading: wait
		{"", "", "3", 3, false}, // confirmed
	} {
		if s.file != "" {
			set(s.file, s.content)
		}
		rd := read()
		d := rd.Size(Sizing{WorkerMemory: 256 << 20})
		at = at.Add(MinShrinkDwell)
		n, _, why := f.Observe(at, rd.Budget, d)
		if rd.Budget.Cores.RatString() != s.cores || n != s.workers || rd.MemoryOK != s.memOK {
			t.Errorf("reading %d: %s CPUs, %d workers, memory %v; want %s, %d, %v (%s)", i, rd.Budget.Cores.RatString(), n, rd.MemoryOK, s.cores, s.workers, s.memOK, d.Reason)
		}
		if why != "" {
			t.Logf("drover: %s", why)
		}
	}
}

// observeAt feeds one reading of cores CPUs taken at at.
func observeAt(f *Follower, at time.Time, cores int64) (int, bool) {
	b := budgetOf(cores)
	n, changed, _ := f.Observe(at, b, Size(b, Sizing{}, 0, false))
	return n, changed
}

// At the shortest recheck, a shrink waits for a lower budget that held
// through a whole dwell: not two readings 250 ms apart.
func TestFollowerShrinkWaitsForTheDwell(t *testing.T) {
	f := NewFollower(2, budgetOf(2), shortRecheck)
	if f.Dwell() != MinShrinkDwell {
		t.Fatalf("dwell %s at recheck %s, want %s", f.Dwell(), shortRecheck, MinShrinkDwell)
	}
	t0 := time.Unix(1e9, 0)
	for k := 0; ; k++ {
		at := t0.Add(time.Duration(k) * shortRecheck)
		n, changed := observeAt(f, at, 1)
		if changed {
			// The reading nearest to a dwell after the first lower one.
			if held := at.Sub(t0); held != MinShrinkDwell {
				t.Errorf("shrank after the lower budget held %s, want %s", held, MinShrinkDwell)
			}
			if n != 1 {
				t.Errorf("shrank to %d, want 1", n)
			}
			return
		}
		if k > 100 {
			t.Fatal("never shrank")
		}
	}
}

// With a recheck longer than the dwell, the dwell is the recheck: two
// readings that agree. A reading that comes a little early (the one before
// took long) still counts; one that comes half a period early does not.
func TestFollowerDwellIsTheRecheckAbove(t *testing.T) {
	const recheck = 30 * time.Second
	t0 := time.Unix(1e9, 0)
	for _, tc := range []struct {
		second  time.Duration
		shrinks bool
	}{
		{recheck, true},
		{recheck - 100*time.Millisecond, true},
		{recheck/2 + time.Millisecond, true},
		{recheck / 3, false},
	} {
		f := NewFollower(2, budgetOf(2), recheck)
		if f.Dwell() != recheck {
			t.Fatalf("dwell %s, want the recheck %s", f.Dwell(), recheck)
		}
		observeAt(f, t0, 1)
		if _, changed := observeAt(f, t0.Add(tc.second), 1); changed != tc.shrinks {
			t.Errorf("second lower reading %s after the first: shrank %v, want %v", tc.second, changed, tc.shrinks)
		}
	}
}

// Anything but the same lower count starts the dwell over: the budget
// back up, or a different lower count.
func TestFollowerDwellStartsOver(t *testing.T) {
	f := NewFollower(4, budgetOf(4), time.Second)
	t0 := time.Unix(1e9, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, s := range []struct {
		t       float64
		cores   int64
		changed bool
	}{
		{0, 2, false},
		{9, 2, false},
		{10, 4, false}, // back up: over
		{11, 2, false},
		{20, 3, false}, // another lower count: over
		{29, 3, false},
		{30, 3, true}, // 3 held from 20 to 30
		{31, 2, false},
		{40.5, 2, true}, // from 31, the reading nearest 41
	} {
		if _, changed := observeAt(f, at(s.t), s.cores); changed != s.changed {
			t.Fatalf("t=%vs, %d CPUs: changed %v, want %v", s.t, s.cores, changed, s.changed)
		}
	}
}

// The promise under a quota that flaps at any pace, read at the shortest
// recheck with jitter: a shrink only after a dwell of agreeing readings,
// so never two shrinks (two stop-and-start cycles) within a dwell, and a
// quota that flips every 5 ms makes exactly one change, the first growth.
func TestFollowerFlappingQuotaAtAnyPace(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, flip := range []time.Duration{5 * time.Millisecond, 300 * time.Millisecond, 3 * time.Second, 9 * time.Second, 15 * time.Second} {
		f := NewFollower(1, budgetOf(1), shortRecheck)
		t0 := time.Unix(1e9, 0)
		var changes, shrinks []time.Time
		var lowSince time.Time
		at := t0
		for at.Before(t0.Add(time.Hour)) {
			at = at.Add(shortRecheck + time.Duration(rng.IntN(20))*time.Millisecond)
			cores := int64(1 + (at.Sub(t0)/flip)%2) // 1, 2, 1, 2, … every flip
			if flip == 5*time.Millisecond {
				cores = int64(1 + rng.IntN(2)) // readings land anywhere in the flips
			}
			before := f.Workers()
			n, changed := observeAt(f, at, cores)
			if cores == 2 {
				lowSince = time.Time{}
			} else if lowSince.IsZero() {
				lowSince = at
			}
			if !changed {
				continue
			}
			changes = append(changes, at)
			if n < before {
				if held := at.Sub(lowSince); held < MinShrinkDwell-shortRecheck/2 {
					t.Errorf("flips every %s: shrank at %s after the lower budget held only %s", flip, at.Sub(t0), held)
				}
				if len(shrinks) > 0 && at.Sub(shrinks[len(shrinks)-1]) < MinShrinkDwell-shortRecheck/2 {
					t.Errorf("flips every %s: two shrinks %s apart", flip, at.Sub(shrinks[len(shrinks)-1]))
				}
				shrinks = append(shrinks, at)
			}
		}
		if flip < MinShrinkDwell && len(changes) != 1 {
			t.Errorf("quota flipping every %s: %d changes in an hour, want 1 (the first growth)", flip, len(changes))
		}
		if flip > MinShrinkDwell && len(shrinks) == 0 {
			t.Errorf("quota steady for %s at a time: never shrank", flip)
		}
		t.Logf("flips every %s: %d changes in an hour", flip, len(changes))
	}
}

// shortRecheck is the shortest DROVER_CPU_RECHECK drover accepts
// (config.MinRecheck).
const shortRecheck = 250 * time.Millisecond
