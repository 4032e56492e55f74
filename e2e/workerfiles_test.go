package e2e

// The test's side of the worker protocol: reading what workers publish and
// dropping triggers for them (see worker_test.go).

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// infos waits until n hz-workers have started and returns what each saw,
// by pid (as seen inside drover's PID namespace).
func (d *drover) infos(n int) map[int]map[string]string {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := map[int]map[string]string{}
		files, _ := filepath.Glob(filepath.Join(d.dir, "info.*"))
		for _, f := range files {
			if strings.HasSuffix(f, ".tmp") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			kv := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				k, v, _ := strings.Cut(l, "=")
				kv[k] = v
			}
			pid, _ := strconv.Atoi(kv["pid"])
			out[pid] = kv
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("only %d of %d workers started", len(out), n)
		}
		time.Sleep(10 * time.Millisecond) // polling files: no event to wait on
	}
}

// trigger drops a file for the worker with pid (namespace pid) to act on.
func (d *drover) trigger(name string, pid int, content string) {
	hzWriteFile(filepath.Join(d.dir, name+"."+strconv.Itoa(pid)), content)
}

// notifyFrom makes the worker with pid send msg to NOTIFY_SOCKET.
func (d *drover) notifyFrom(pid int, msg string) { d.trigger("send", pid, msg) }

// waitUp waits until n workers of a helper mode have written their files
// in dir, and returns name → content.
func waitUp(t *testing.T, dir string, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(dir, "*.*[0-9]"))
		if len(m) >= n {
			out := map[string]string{}
			for _, f := range m {
				b, _ := os.ReadFile(f)
				out[filepath.Base(f)] = string(b)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d workers came up (%v)", len(m), n, m)
		}
		time.Sleep(10 * time.Millisecond) // polling files: no event to wait on
	}
}
