package cpus

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func TestRound(t *testing.T) {
	for _, c := range []struct {
		x                    string
		ceil, floor, nearest int
	}{
		{"0", 0, 0, 0},
		{"1/20", 0, 0, 0},
		{"1/10", 0, 0, 0},
		{"11/100", 1, 0, 0},
		{"1/2", 1, 0, 1},
		{"1", 1, 1, 1},
		{"3/2", 2, 1, 2},
		{"5/2", 3, 2, 3},
		{"41/10", 4, 4, 4},   // ceil drops a remainder of exactly 0.1
		{"411/100", 5, 4, 4}, // but not a hair more
		{"21/5", 5, 4, 4},
		{"449/100", 5, 4, 4},
		{"9/2", 5, 4, 5}, // half up
		{"7/3", 3, 2, 2},
		{"1000000000000000000000", maxWorkers, maxWorkers, maxWorkers},
	} {
		for r, want := range map[Rounding]int{Ceil: c.ceil, Floor: c.floor, Nearest: c.nearest} {
			if got := round(rat(c.x), r); got != want {
				t.Errorf("round(%s, %s) = %d, want %d", c.x, r, got, want)
			}
		}
	}
}

func TestFormatCores(t *testing.T) {
	for in, want := range map[string]string{
		"3/2": "1.5", "8": "8", "1/4": "0.25", "7/3": "2.333", "2/3": "0.667",
		"41/10": "4.1", "1/1000": "0.001", "100": "100",
	} {
		if got := FormatCores(rat(in)); got != want {
			t.Errorf("FormatCores(%s) = %q, want %q", in, got, want)
		}
	}
	if got := FormatCores(nil); got != "unknown" {
		t.Errorf("FormatCores(nil) = %q", got)
	}
	for in, want := range map[int64]string{1 << 30: "1Gi", 256 << 20: "256Mi", 1536 << 20: "1536Mi", 1000: "1000", 0: "0", 3 << 10: "3Ki"} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestRoundingZeroIsCeil(t *testing.T) {
	var r Rounding
	if r.String() != "ceil" || round(big.NewRat(3, 2), r) != 2 {
		t.Error("the zero Rounding must be the default, ceil")
	}
}

func TestSize(t *testing.T) {
	b := Budget{Cores: rat("3/2"), Source: "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu"}
	for _, c := range []struct {
		name   string
		s      Sizing
		mem    int64
		memOK  bool
		want   int
		reason string
	}{
		{"design example", Sizing{}, 0, false, 2,
			"cpu budget 1.5 (cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu), rounding ceil"},
		{"floor", Sizing{Rounding: Floor}, 0, false, 1,
			"cpu budget 1.5 (cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu), rounding floor"},
		{"per cpu 2", Sizing{PerCPU: rat("2")}, 0, false, 3,
			"cpu budget 1.5 (cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu), 2 workers per cpu = 3, rounding ceil"},
		{"min", Sizing{Min: 4}, 0, false, 4, ", rounding ceil, raised to min 4"},
		{"max", Sizing{PerCPU: rat("4"), Max: 5}, 0, false, 5, ", capped at max 5"},
		{"max below min wins", Sizing{Min: 8, Max: 3}, 0, false, 3, ", raised to min 8, capped at max 3"},
		{"memory cap", Sizing{PerCPU: rat("4"), WorkerMemory: 256 << 20}, 1 << 30, true, 4,
			", capped at 4 by memory 1Gi / 256Mi per worker"},
		{"memory unknown", Sizing{PerCPU: rat("4"), WorkerMemory: 256 << 20}, 0, false, 6, "rounding ceil"},
		{"memory without worker size", Sizing{PerCPU: rat("4")}, 1 << 20, true, 6, "rounding ceil"},
		{"memory never below 1", Sizing{WorkerMemory: 1 << 30}, 1 << 20, true, 1, "capped at 1 by memory 1Mi / 1Gi per worker"},
		{"memory zero limit", Sizing{WorkerMemory: 1 << 30}, 0, true, 1, "capped at 1 by memory 0 / 1Gi per worker"},
		{"memory not binding", Sizing{WorkerMemory: 1 << 20}, 1 << 30, true, 2, "rounding ceil"},
	} {
		d := Size(b, c.s, c.mem, c.memOK)
		if d.Workers != c.want || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: got %d %q, want %d and %q", c.name, d.Workers, d.Reason, c.want, c.reason)
		}
		if c.reason == "rounding ceil" && strings.Contains(d.Reason, "capped") {
			t.Errorf("%s: reason %q mentions a cap that did not apply", c.name, d.Reason)
		}
	}
	if got := Size(b, Sizing{}, 0, false).String(); got != "2 workers: cpu budget 1.5 (cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu), rounding ceil" {
		t.Errorf("Decision.String() = %q", got)
	}
	if d := Size(Budget{}, Sizing{Min: 2}, 0, false); d.Workers != 2 || !strings.HasPrefix(d.Reason, "cpu budget unknown") {
		t.Errorf("unknown budget: %+v", d)
	}
	if d := Size(Budget{Cores: rat("1/3"), Source: "x"}, Sizing{Rounding: Floor}, 0, false); d.Workers != 1 || !strings.HasSuffix(d.Reason, ", raised to 1") {
		t.Errorf("never below 1: %+v", d)
	}
}

func TestBudgetWithoutCgroups(t *testing.T) {
	root := t.TempDir()
	fixed := func(n int, err error) func() (int, error) { return func() (int, error) { return n, err } }

	// More than 1024 CPUs only reach us through the affinity func.
	b, err := Reader{Root: root, Affinity: fixed(4096, nil)}.Budget(0)
	if err != nil || b.Cores.Cmp(rat("4096")) != 0 || b.Source != "affinity 4096 CPUs" || b.Affinity != 4096 {
		t.Errorf("4096 CPUs: %+v, %v", b, err)
	}
	b, _ = Reader{Root: root, Affinity: fixed(1, nil)}.Budget(0)
	if b.Source != "affinity 1 CPU" {
		t.Errorf("source %q", b.Source)
	}
	// A tie between millicores and affinity names the explicit setting.
	b, _ = Reader{Root: root, Affinity: fixed(2, nil)}.Budget(2000)
	if b.Source != "DROVER_CPU_MILLICORES=2000" {
		t.Errorf("tie: source %q", b.Source)
	}

	boom := errors.New("boom")
	_, err = Reader{Root: root, Affinity: fixed(0, boom)}.Budget(0)
	if !errors.Is(err, boom) {
		t.Errorf("no source at all: err = %v, want it to wrap the affinity error", err)
	}
	if _, err = (Reader{Root: root, Affinity: fixed(0, nil)}).Budget(0); err == nil {
		t.Error("an empty affinity mask must not become a budget of 0")
	}
	var warned []string
	b, err = Reader{Root: root, Affinity: fixed(0, boom), Warn: func(s string) { warned = append(warned, s) }}.Budget(1500)
	if err != nil || b.Cores.Cmp(rat("3/2")) != 0 || b.Affinity != 0 || len(warned) != 1 || !strings.Contains(warned[0], "boom") {
		t.Errorf("affinity failure with millicores: %+v, %v, warnings %q", b, err, warned)
	}
}

func TestUnreadableFileWarns(t *testing.T) {
	root := t.TempDir()
	materialize(t, root, map[string]string{
		"/proc/self/cgroup":    "0::/\n",
		"/proc/self/mountinfo": "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
	})
	// A directory where the file should be: readable as neither value nor absence.
	materialize(t, root, map[string]string{"/sys/fs/cgroup/cpu.max/x": ""})
	var warned []string
	b, err := Reader{Root: root, Affinity: func() (int, error) { return 3, nil }, Warn: func(s string) { warned = append(warned, s) }}.Budget(0)
	if err != nil || b.Cores.Cmp(rat("3")) != 0 {
		t.Fatalf("%+v, %v", b, err)
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], "ignoring /sys/fs/cgroup/cpu.max: ") || strings.Contains(warned[0], root) {
		t.Errorf("warnings %q: want one naming the real path /sys/fs/cgroup/cpu.max", warned)
	}
}
