package usage

import (
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReadFixture(t *testing.T) {
	r, err := New("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	page := int64(unix.Getpagesize())
	got := r.Read([]int{100, 200, 999})
	// Tree of 100: itself, 101 (comm "sh) (x) (y") and zombie 106 forked by
	// its main thread, 108 forked by its thread 107; 103 (corrupt stat) and
	// 104 (vanished) are children of 101. 102 is in process group 100 but
	// not a descendant, so it is not counted. 999 does not exist.
	want := map[int]Usage{
		100: {RSS: (1000 + 10 + 0 + 5) * page, CPUSeconds: float64(150+50+10+5+3+2+20+10) / 100},
		200: {RSS: 20 * page, CPUSeconds: 0.1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := r.Read(nil); len(got) != 0 {
		t.Errorf("no pids: %v", got)
	}
	// A worker listed twice, or inside another's tree, is counted once.
	if got := r.Read([]int{100, 100, 101}); !reflect.DeepEqual(got, map[int]Usage{100: want[100]}) {
		t.Errorf("overlapping pids: %+v", got)
	}
	if _, err := New("testdata/no-such-proc"); err == nil {
		t.Error("missing proc root: no error")
	}
}

// On the real /proc: a worker that is a shell with a child of its own.
func TestReadRealTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 1000 & echo $!; exec sleep 1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	leader := cmd.Process.Pid
	t.Cleanup(func() {
		_ = unix.Kill(-leader, unix.SIGKILL)
		_ = cmd.Wait()
	})
	buf := make([]byte, 32)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("child pid %q: %v", buf[:n], err)
	}

	r, err := New("/proc")
	if err != nil {
		t.Fatal(err)
	}
	// The child is listed once the shell has exec'd sleep; wait for that.
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(leader) + "/comm")
		if strings.TrimSpace(string(data)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not exec sleep within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	whole := r.Read([]int{leader})[leader]
	part := r.Read([]int{child})[child]
	if part.RSS <= 0 || whole.RSS <= part.RSS {
		t.Errorf("tree RSS %d, child alone %d: the child is not counted in its parent's tree", whole.RSS, part.RSS)
	}
	if whole.CPUSeconds < 0 {
		t.Errorf("CPU %v", whole.CPUSeconds)
	}
}
