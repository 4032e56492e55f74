package health

import (
	"os"
	"os/exec"
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadUsageFixture(t *testing.T) {
	page := int64(unix.Getpagesize())
	got, err := ReadUsage("testdata/proc", []int{100, 200, 999})
	if err != nil {
		t.Fatal(err)
	}
	// Group 100: node, its child whose comm is "sh) (x) (y", and a zombie.
	// 103 is corrupt, 104 vanished, "self" is not a pid directory.
	want := map[int]Usage{
		100: {RSS: (1000 + 10 + 0) * page, CPUSeconds: float64(150+50+10+5+3+2) / 100},
		200: {RSS: 20 * page, CPUSeconds: 0.1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	if got, err := ReadUsage("testdata/proc", nil); err != nil || len(got) != 0 {
		t.Errorf("no pgids: %v, %v", got, err)
	}
	if _, err := ReadUsage("testdata/no-such-proc", []int{1}); err == nil {
		t.Error("missing proc root: no error")
	}
}

func TestParseStat(t *testing.T) {
	st, err := parseStat("7 (a (b) c)) R 1 42 42 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 5 6 33 7\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStat{pgrp: 42, utime: 11, stime: 22, rssPages: 33}); st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "7 (x", "7 (x) R 1 2", "7 (x) R 1 zz 42 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 5 6 33 7"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) = nil error", bad)
		}
	}
}

// On the real /proc: a worker started as its own process-group leader.
func TestReadUsageRealProc(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=idle")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	if line := readLine(t, stdout); line != "running" {
		t.Fatalf("helper said %q", line)
	}

	child, self := cmd.Process.Pid, unix.Getpgrp()
	got, err := ReadUsage("/proc", []int{child, self})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []int{child, self} {
		if u, ok := got[g]; !ok || u.RSS <= 0 || u.CPUSeconds < 0 {
			t.Errorf("group %d: %+v (found %v), want RSS > 0", g, u, ok)
		}
	}
}
