package cpus

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vector is one file of testdata/vectors (format: ../shared/cgroup-vectors
// README). Sizing and the extra Expect fields are drover's own extensions;
// unknown fields fail the test so that a typo in a new case is not ignored.
type vector struct {
	ID            string            `json:"id"`
	Desc          string            `json:"desc"`
	CgroupVersion string            `json:"cgroup_version"`
	AffinityCPUs  int               `json:"affinity_cpus"`
	HostCPUs      int               `json:"host_cpus"`
	Env           map[string]string `json:"env"`
	Files         map[string]string `json:"files"`
	Sizing        *struct {
		PerCPU       string `json:"per_cpu"`
		Min          int    `json:"min"`
		Max          int    `json:"max"`
		WorkerMemory int64  `json:"worker_memory"`
	} `json:"sizing"`
	Expect struct {
		CPUs    string         `json:"cpus"`
		Workers map[string]int `json:"workers"`
		// MemoryLimit: bytes, or -1 for "no limit found".
		MemoryLimit *int64 `json:"memory_limit"`
		// Warnings: exact number of Warn calls made by Budget.
		Warnings *int `json:"warnings"`
		// Source: substring of Budget.Source.
		Source string `json:"source"`
		// Reason: substring of the ceil Decision.Reason.
		Reason string `json:"reason"`
	} `json:"expect"`
}

// sharedVectorWarnings: the shared format has no field for warnings, so the
// cases that must warn are listed here; every other case must stay silent.
var sharedVectorWarnings = map[string]int{
	"V24": 1, // garbage cpu.max
	"V27": 1, // cgroup outside the namespace root
}

func loadVectors(t testing.TB) map[string]vector {
	t.Helper()
	paths, err := filepath.Glob("testdata/vectors/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 18 {
		t.Fatalf("found %d vectors in testdata/vectors, want the 18 shared ones at least", len(paths))
	}
	out := map[string]vector{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var v vector
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[filepath.Base(p)] = v
	}
	return out
}

// materialize writes files under a fresh root, as the process would see them.
func materialize(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVectors(t *testing.T) {
	for name, v := range loadVectors(t) {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			t.Logf("%s: %s", v.ID, v.Desc)
			root := t.TempDir()
			materialize(t, root, v.Files)
			var warnings []string
			r := Reader{
				Root:     root,
				Affinity: func() (int, error) { return v.AffinityCPUs, nil },
				Warn:     func(s string) { warnings = append(warnings, s) },
			}
			// DROVER_CPU_FILE names a file of the vector; drover reads it
			// as given, so it is put below the fixture root by hand.
			if f, ok := v.Env["DROVER_CPU_FILE"]; ok {
				r.CPUFile = filepath.Join(root, f)
			}
			var milli int64
			if s, ok := v.Env["DROVER_CPU_MILLICORES"]; ok {
				var err error
				if milli, err = strconv.ParseInt(s, 10, 64); err != nil {
					t.Fatalf("env DROVER_CPU_MILLICORES=%q: %v", s, err)
				}
			}
			b, err := r.Budget(milli)
			if err != nil {
				t.Fatalf("Budget: %v", err)
			}
			if r.CPUFile != "" {
				b.Source = strings.ReplaceAll(b.Source, r.CPUFile, v.Env["DROVER_CPU_FILE"])
			}
			want, ok := new(big.Rat).SetString(v.Expect.CPUs)
			if !ok {
				t.Fatalf("bad expect.cpus %q", v.Expect.CPUs)
			}
			if b.Cores.Cmp(want) != 0 {
				t.Errorf("budget = %s (%s), want %s", b.Cores.RatString(), b.Source, want.RatString())
			}
			if !strings.Contains(b.Source, v.Expect.Source) {
				t.Errorf("source = %q, want it to contain %q", b.Source, v.Expect.Source)
			}
			if strings.Contains(b.Source, root) {
				t.Errorf("source %q shows the fixture root", b.Source)
			}
			wantWarn := sharedVectorWarnings[v.ID]
			if v.Expect.Warnings != nil {
				wantWarn = *v.Expect.Warnings
			}
			if len(warnings) != wantWarn {
				t.Errorf("got %d warnings, want %d: %q", len(warnings), wantWarn, warnings)
			}
			for _, w := range warnings {
				t.Logf("warning: %s", w)
			}

			mem, memSrc, memOK := r.MemoryLimit()
			if e := v.Expect.MemoryLimit; e != nil {
				switch {
				case *e < 0 && memOK:
					t.Errorf("memory limit = %d (%s), want none", mem, memSrc)
				case *e >= 0 && (!memOK || mem != *e):
					t.Errorf("memory limit = %d, %v (%s), want %d", mem, memOK, memSrc, *e)
				}
			}

			s := Sizing{}
			if v.Sizing != nil {
				s = Sizing{Min: v.Sizing.Min, Max: v.Sizing.Max, WorkerMemory: v.Sizing.WorkerMemory}
				if v.Sizing.PerCPU != "" {
					var ok bool
					if s.PerCPU, ok = new(big.Rat).SetString(v.Sizing.PerCPU); !ok {
						t.Fatalf("per_cpu %q", v.Sizing.PerCPU)
					}
				}
			}
			if len(v.Expect.Workers) != 3 {
				t.Errorf("expect.workers has %d roundings, want ceil, floor and nearest", len(v.Expect.Workers))
			}
			for rs, wantW := range v.Expect.Workers {
				s.Rounding = Rounding(rs)
				d := Size(b, s, mem, memOK)
				if d.Workers != wantW {
					t.Errorf("%s: %d workers, want %d (%s)", rs, d.Workers, wantW, d.Reason)
				}
				if !strings.HasPrefix(d.Reason, "cpu budget "+FormatCores(b.Cores)+" ("+b.Source+")") ||
					!strings.Contains(d.Reason, "rounding "+rs) {
					t.Errorf("%s: reason %q does not explain the budget", rs, d.Reason)
				}
				if s.Rounding == Ceil {
					t.Logf("drover: %s", d)
					if !strings.Contains(d.Reason, v.Expect.Reason) {
						t.Errorf("reason %q, want it to contain %q", d.Reason, v.Expect.Reason)
					}
				}
			}
		})
	}
}
