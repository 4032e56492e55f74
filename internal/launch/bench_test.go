package launch

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkStart measures worker starts until the program has exited (so
// the whole cost of a shim is in): directly, through each exec shim, and
// through /bin/sh setting LISTEN_PID=$$ (the alternative to a shim). The
// variants take turns within each round so that the load of a shared
// machine hits them alike; each reports its median. The shim is this test
// binary unless LAUNCH_BENCH_SHIM lists others (colon-separated; a built
// drover includes its size and its packages' initialisation):
//
//	go build -o /tmp/drover . && LAUNCH_BENCH_SHIM=/tmp/drover go test -run - -bench Start -benchtime 100x ./internal/launch/
func BenchmarkStart(b *testing.B) {
	shims := strings.Split(os.Getenv("LAUNCH_BENCH_SHIM"), ":")
	if shims[0] == "" {
		shims = []string{self(b)}
	}
	type variant struct {
		name string
		x    *Exec
		ds   []time.Duration
	}
	vs := []*variant{
		{name: "direct", x: &Exec{Path: "/bin/true", Args: []string{"true"}}},
		{name: "sh", x: &Exec{Path: "/bin/sh", Args: []string{"sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, "/bin/true"}}},
	}
	for _, s := range shims {
		vs = append(vs, &variant{name: "shim-" + filepath.Base(s), x: &Exec{Path: "/bin/true", Args: []string{"true"}, Shim: s, PidVars: []string{"LISTEN_PID"}}})
	}
	// The same with a worker oom_score_adj to set (drover's own + 1), and
	// the shell fast path as Exec runs it.
	if own, _, err := ReadOOM("/proc"); err == nil && own < 1000 {
		oom := &OOMPlan{Drover: own, Worker: own + 1}
		vs = append(vs,
			&variant{name: "direct-oom", x: &Exec{Path: "/bin/true", Args: []string{"/bin/true"}, OOM: oom}},
			&variant{name: "sh-fast-path-oom", x: &Exec{Path: "/bin/true", Args: []string{"/bin/true"}, Shim: "/nonexistent", Sh: "/bin/sh", PidVars: []string{"LISTEN_PID"}, OOM: oom}},
			&variant{name: "shim-oom", x: &Exec{Path: "/bin/true", Args: []string{"true"}, Shim: shims[0], PidVars: []string{"LISTEN_PID"}, OOM: oom}})
	}
	for b.Loop() {
		for _, v := range vs {
			t0 := time.Now()
			p, err := v.x.Start(nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			<-p.Execd
			if ws := waitExit(b, p.Pid); ws.ExitStatus() != 0 {
				b.Fatalf("%s: exit %v", v.name, ws)
			}
			v.ds = append(v.ds, time.Since(t0))
		}
	}
	for _, v := range vs {
		sort.Slice(v.ds, func(i, j int) bool { return v.ds[i] < v.ds[j] })
		b.ReportMetric(float64(v.ds[len(v.ds)/2].Microseconds())/1000, v.name+"-median-ms")
	}
}
