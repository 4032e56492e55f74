package e2e

// Issue 17, item 4: every file drover reads while running is opened so it
// cannot block. A FIFO as DROVER_CPU_FILE hung PID 1 before its health
// server started (open(2) waits for a writer); /dev/zero, a directory and
// /proc/self/mem were already ignored with a line and must stay so.

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO nobody writes to, an endless device, a directory, a file that
// cannot be read: each costs one warning, start-up is not delayed, the
// pool is sized from the other limits, and the rechecks that read the file
// again every 250 ms neither block nor repeat the warning.
func TestCPUFileThatCannotBeRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "cpu_limit")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, why string }{
		{fifo, "not a regular file (a FIFO)"},
		{"/dev/zero", "not a regular file (a character device)"},
		{dir, "not a regular file (a directory)"},
		{"/proc/self/mem", "input/output error"},
	} {
		t.Run(strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			// A cgroup of its own, whose quota file drover reads at every
			// recheck: the count of those reads is what the test waits on.
			cg := cpuCgroup(t, 2)
			begin := time.Now()
			d := start(t, opts{health: true, shell: cg.join(), env: []string{oneReader, "DROVER_WORKERS=auto",
				"DROVER_CPU_FILE=" + tc.path, "DROVER_CPU_RECHECK=250ms"}}, "--", "sleep", "1000")
			up := time.Since(begin)
			t.Logf("%s: health server up %s after start", tc.path, up)
			warning := regexp.QuoteMeta("drover: warning: cpu budget: ignoring DROVER_CPU_FILE "+tc.path+": ") + `.*` + regexp.QuoteMeta(tc.why)
			d.waitLog(warning, 1, 5*time.Second)
			d.waitLog(`worker started worker=0 `, 1, 5*time.Second)
			// Several rechecks later: still answering, still one warning.
			reads := watchReads(t, cg.file("cpu.cfs_quota_us"), "")
			for i := 1; i <= 3; i++ {
				reads.waitFor(i, 5*time.Second)
				if code, body, err := tryGet("http://" + d.addr + "/livez"); err != nil || code != 200 {
					t.Fatalf("/livez after rechecks of %s: %d %q %v", tc.path, code, body, err)
				}
			}
			if n := d.count(`ignoring DROVER_CPU_FILE`); n != 1 {
				t.Errorf("%d warnings about DROVER_CPU_FILE, want 1", n)
			}
			if tc.path == fifo {
				// drover does not hold the FIFO open for reading: a writer
				// that does not wait finds no reader.
				f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				if err == nil {
					f.Close()
					t.Error("the FIFO has a reader: drover keeps it open")
				} else if !errors.Is(err, syscall.ENXIO) {
					t.Errorf("opening the FIFO for writing: %v", err)
				}
			}
			d.stop()
		})
	}
}

// DROVER_CPU_RECHECK below the floor is refused at start, exit 2, one
// line naming the variable, the value and what is accepted; the floor
// itself and 0 (off) are accepted.
func TestRecheckFloor(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1ms", "249ms", "1ns"} {
		out, err := command(t, opts{env: []string{"DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=" + v}}, "--", "true").CombinedOutput()
		want := `drover: DROVER_CPU_RECHECK="` + v + `" is not valid; accepted: 0 (off) or a duration of at least 250ms, such as 10s` + "\n"
		if code := exitCode(err); code != 2 || string(out) != want {
			t.Errorf("DROVER_CPU_RECHECK=%s: exit %d, %q; want 2, %q", v, code, out, want)
		}
	}
	for _, v := range []string{"250ms", "0"} {
		out, err := command(t, opts{env: []string{"DROVER_WORKERS=auto", "DROVER_CPU_RECHECK=" + v, "DROVER_RESTART=never"}}, "--", "true").CombinedOutput()
		if code := exitCode(err); code != 0 {
			t.Errorf("DROVER_CPU_RECHECK=%s: exit %d, %q; want 0", v, code, out)
		}
	}
}
