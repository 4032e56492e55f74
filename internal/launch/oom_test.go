package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestPlanOOM(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, c := range []struct {
		name     string
		worker   *int
		own      int
		canLower bool
		want     OOMPlan
		err      string
	}{
		{"default: workers above drover", nil, 0, false, OOMPlan{Drover: 0, Worker: 500}, ""},
		{"default, capped at 1000", nil, 800, false, OOMPlan{Drover: 800, Worker: 1000}, ""},
		{"default, a Guaranteed pod", nil, -997, false, OOMPlan{Drover: -997, Worker: -497}, ""},
		{"default, drover at 1000", nil, 1000, false, OOMPlan{Drover: 1000, Worker: 1000, Note: "drover's oom_score_adj is already 1000 and lowering it needs CAP_SYS_RESOURCE: the OOM killer chooses between drover and its workers by memory alone"}, ""},
		{"default with CAP_SYS_RESOURCE: drover goes lower", nil, 0, true, OOMPlan{Drover: -500, Lower: true, Worker: 0}, ""},
		{"default with CAP_SYS_RESOURCE at 1000", nil, 1000, true, OOMPlan{Drover: 500, Lower: true, Worker: 1000}, ""},
		{"default with CAP_SYS_RESOURCE, never -1000", nil, -800, true, OOMPlan{Drover: -999, Lower: true, Worker: -800}, ""},
		{"default with CAP_SYS_RESOURCE, already -999", nil, -999, true, OOMPlan{Drover: -999, Worker: -499}, ""},
		{"explicit", n(300), 0, false, OOMPlan{Drover: 0, Worker: 300}, ""},
		{"explicit, same as drover", n(0), 0, false, OOMPlan{Drover: 0, Worker: 0}, ""},
		{"explicit below drover with CAP_SYS_RESOURCE", n(-100), 0, true, OOMPlan{Drover: 0, Worker: -100}, ""},
		{"explicit below drover", n(-100), 0, false, OOMPlan{}, "below drover's own oom_score_adj 0: lowering a score needs CAP_SYS_RESOURCE, which drover does not have"},
		{"explicit out of range", n(1001), 0, true, OOMPlan{}, "1001 is outside -1000…1000"},
	} {
		got, err := PlanOOM(c.worker, c.own, c.canLower)
		switch {
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("%s: err %v, want %q", c.name, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

// fakeProc is a proc mount with drover's own score and capabilities.
func fakeProc(t *testing.T, score, capEff string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "self"), 0o755)
	os.WriteFile(filepath.Join(dir, "self", "oom_score_adj"), []byte(score), 0o644)
	status := "Name:\tdrover\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapEff:\t" + capEff + "\n"
	os.WriteFile(filepath.Join(dir, "self", "status"), []byte(status), 0o644)
	return dir
}

func TestReadOOM(t *testing.T) {
	for _, c := range []struct {
		score, cap string
		own        int
		canLower   bool
		err        bool
	}{
		{"0\n", "000001ffffffffff", 0, true, false},
		{"-997\n", "000001fffeffffff", -997, false, false}, // no CAP_SYS_RESOURCE (bit 24)
		{"1000", "00000000a80425fb", 1000, false, false},   // Docker's default set
		{"x\n", "0", 0, false, true},
		{"1001\n", "0", 0, false, true},
	} {
		own, canLower, err := ReadOOM(fakeProc(t, c.score, c.cap))
		if (err != nil) != c.err || own != c.own || canLower != c.canLower {
			t.Errorf("score %q cap %s: %d, %v, %v", c.score, c.cap, own, canLower, err)
		}
	}
	if _, _, err := ReadOOM(t.TempDir()); err == nil || !strings.Contains(err.Error(), "oom_score_adj") {
		t.Errorf("no proc: %v", err)
	}
	bad := fakeProc(t, "0", "zz")
	if _, _, err := ReadOOM(bad); err == nil || !strings.Contains(err.Error(), "capabilities") {
		t.Errorf("bad CapEff: %v", err)
	}
	if own, _, err := ReadOOM("/proc"); err != nil || own < -1000 || own > 1000 {
		t.Errorf("the real one: %d, %v", own, err)
	}
}

// ownScore is the test process's own oom_score_adj.
func ownScore(t *testing.T) int {
	t.Helper()
	own, _, err := ReadOOM("/proc")
	if err != nil {
		t.Fatal(err)
	}
	return own
}

// On every path a worker starts by (direct, a shell under each shell,
// drover's shim, as another user), the program and a child it forks at
// once have the worker's score, and drover's own is as before.
func TestWorkerOOMScore(t *testing.T) {
	own := ownScore(t)
	if own >= 1000 {
		t.Fatalf("the test runs with oom_score_adj %d; nothing can be above it", own)
	}
	plan := &OOMPlan{Drover: own, Worker: own + 1}
	script := `cat /proc/self/oom_score_adj > $REC/self; sh -c 'cat /proc/$$/oom_score_adj' > $REC/child`
	paths := map[string]*Exec{
		"direct":      {Args: []string{"sh", "-c", script}},
		"drover shim": {Args: []string{"sh", "-c", script}, Shim: self(t), PidVars: []string{"LISTEN_PID"}},
	}
	for name, sh := range testShells(t) {
		paths["shell "+name] = &Exec{Args: []string{"sh", "-c", script}, Shim: "/nonexistent/shim", Sh: sh, PidVars: []string{"LISTEN_PID"}}
	}
	if os.Geteuid() == 0 {
		nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
		paths["drover shim as a user"] = &Exec{Args: []string{"sh", "-c", script}, Shim: self(t), PidVars: []string{"LISTEN_PID"}, Credential: nobody}
		// argv[0] is the path: a shell as the user does not search PATH.
		paths["shell as a user"] = &Exec{Args: []string{"", "-c", script}, Shim: "/nonexistent/shim", Sh: "/bin/sh", PidVars: []string{"LISTEN_PID"}, Credential: nobody}
		paths["direct as a user"] = &Exec{Args: []string{"sh", "-c", script}, Credential: nobody}
	}
	for name, x := range paths {
		t.Run(name, func(t *testing.T) {
			dir := openDir(t, 0o777)
			env := []string{"REC=" + dir, "PATH=/usr/bin:/bin"}
			x.Path, x.OOM, x.Stderr = shSearch(env, "sh"), plan, stderrFile(t)
			if x.Args[0] == "" {
				x.Args[0] = x.Path
			}
			p, err := x.Start(env, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ownScore(t); got != own {
				t.Errorf("drover's own score is %d after the start, want %d", got, own)
			}
			waitExecd(t, p)
			if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
				t.Fatalf("worker exited %v: %s", ws, readFile(t, x.Stderr.(*os.File).Name()))
			}
			for _, f := range []string{"self", "child"} {
				if got := strings.TrimSpace(readFile(t, filepath.Join(dir, f))); got != strconv.Itoa(plan.Worker) {
					t.Errorf("%s: oom_score_adj %s, want %d", f, got, plan.Worker)
				}
			}
		})
	}
}

// A score the kernel refuses (below drover's own, without
// CAP_SYS_RESOURCE) is one line on stderr from either shim, and the program
// still runs.
func TestWorkerOOMScoreRefused(t *testing.T) {
	own, canLower, err := ReadOOM("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if canLower || own == -1000 {
		t.Skip("this process may lower its score: no refusal to see")
	}
	plan := &OOMPlan{Drover: own, Worker: own - 1}
	for name, x := range map[string]*Exec{
		"drover shim": {Shim: self(t)},
		"shell":       {Shim: "/nonexistent/shim", Sh: shSearch([]string{"PATH=/usr/bin:/bin"}, "sh")},
	} {
		t.Run(name, func(t *testing.T) {
			stderr := stderrFile(t)
			x.Path, x.Args, x.PidVars, x.OOM, x.Stderr = "/bin/true", []string{"/bin/true"}, []string{"LISTEN_PID"}, plan, stderr
			p, err := x.Start(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			waitExecd(t, p)
			if ws := waitExit(t, p.Pid); ws.ExitStatus() != 0 {
				t.Fatalf("worker exited %v", ws)
			}
			want := "drover: cannot set the oom_score_adj of worker " + strconv.Itoa(p.Pid) + " to " + strconv.Itoa(plan.Worker)
			if got := readFile(t, stderr.Name()); !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", got, want)
			}
		})
	}
}
