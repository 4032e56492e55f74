package e2e

// The test's side of the worker protocol: reading what workers publish and
// dropping triggers for them (see worker_test.go).

import (
	"fmt"
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
	return eventually(d.t, 10*time.Second, fmt.Sprintf("%d workers to write their info file", n), func() (map[int]map[string]string, bool) {
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
		return out, len(out) >= n
	})
}

// trigger drops a file for the worker with pid (namespace pid) to act on.
func (d *drover) trigger(name string, pid int, content string) {
	d.t.Helper()
	writeAtomically(d.t, filepath.Join(d.dir, name+"."+strconv.Itoa(pid)), content)
}

// notifyFrom makes the worker with pid send msg to NOTIFY_SOCKET.
func (d *drover) notifyFrom(pid int, msg string) { d.trigger("send", pid, msg) }

// waitUp waits until n workers of a helper mode have written their files
// in dir, and returns name → content.
func waitUp(t *testing.T, dir string, n int) map[string]string {
	t.Helper()
	return eventually(t, 15*time.Second, fmt.Sprintf("%d workers to come up in %s", n, dir), func() (map[string]string, bool) {
		m, _ := filepath.Glob(filepath.Join(dir, "*.*[0-9]"))
		out := map[string]string{}
		for _, f := range m {
			b, _ := os.ReadFile(f)
			out[filepath.Base(f)] = string(b)
		}
		return out, len(out) >= n
	})
}

// writeAtomically replaces path's content in one step, as the kubelet
// does for a Downward API volume (it swaps a symlink): a reader never sees
// the file empty or half written.
func writeAtomically(t testing.TB, path, content string) {
	t.Helper()
	if err := writeAtomic(path, content); err != nil {
		t.Fatal(err)
	}
}
