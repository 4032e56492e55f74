package compat

// HTTP to a running drover: its health server (/readyz, /status) and the
// workers behind its socket; and where in the process tree an answer came
// from.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var plain = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// get is one request on a new connection.
func get(url string) (int, string, error) {
	resp, err := plain.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// readyz is the health server's answer to /readyz (0 if it did not answer).
func (d *drover) readyz() int {
	code, _, err := get("http://" + d.addr + "/readyz")
	if err != nil {
		return 0
	}
	return code
}

// status is the part of /status this suite reads.
type status struct {
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
	Workers []struct {
		ID    int    `json:"id"`
		Pid   int    `json:"pid"`
		State string `json:"state"`
		Ready bool   `json:"ready"`
	} `json:"workers"`
}

func (d *drover) status() (status, error) {
	var s status
	code, body, err := get("http://" + d.addr + "/status")
	if err != nil {
		return s, err
	}
	if code != http.StatusOK {
		return s, fmt.Errorf("/status: HTTP %d", code)
	}
	return s, json.Unmarshal([]byte(body), &s)
}

// waitReady waits until /readyz says 200 and /status has every worker
// ready, and returns the workers' pids by slot. /status has no event to
// wait on, so this polls.
func (d *drover) waitReady(timeout time.Duration) map[int]int {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			d.t.Fatalf("drover exited (code %d) before its workers were ready", d.code)
		default:
		}
		s, err := d.status()
		if err == nil && d.readyz() == http.StatusOK && s.Ready == s.Desired && len(s.Workers) == s.Desired {
			pids := map[int]int{}
			for _, w := range s.Workers {
				pids[w.ID] = w.Pid
			}
			return pids
		}
		last = fmt.Sprintf("%+v %v", s, err)
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("workers not ready within %s: last /status %s", timeout, last)
	return nil
}

var pidBody = regexp.MustCompile(`pid (\d+)`)

// slots sends requests, each on its own connection, until answers came
// from the process trees of n different workers; it returns how many
// requests that took. A worker's tree: gunicorn answers from a child of
// the process drover started.
func (d *drover) slots(n int, pids map[int]int, timeout time.Duration) (int, error) {
	bySlot := map[int]int{}
	for slot, pid := range pids {
		bySlot[pid] = slot
	}
	seen := map[int]bool{}
	var mu sync.Mutex
	deadline := time.Now().Add(timeout)
	url := fmt.Sprintf("http://127.0.0.1:%d/", d.port)
	sent := 0
	var lastErr error
	for time.Now().Before(deadline) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, err := get(url)
				mu.Lock()
				defer mu.Unlock()
				sent++
				if err != nil || code != http.StatusOK {
					lastErr = fmt.Errorf("GET %s: %d %q %v", url, code, body, err)
					return
				}
				m := pidBody.FindStringSubmatch(body)
				if m == nil {
					lastErr = fmt.Errorf("GET %s: %q does not say which pid answered", url, body)
					return
				}
				pid, _ := strconv.Atoi(m[1])
				if slot, ok := slotOf(pid, bySlot); ok {
					seen[slot] = true
				} else {
					lastErr = fmt.Errorf("pid %d answered, which is in no worker's tree %v", pid, pids)
				}
			}()
		}
		wg.Wait()
		if len(seen) >= n {
			return sent, nil
		}
	}
	return sent, fmt.Errorf("answers came from %d of %d workers in %d requests within %s (last error: %v)", len(seen), n, sent, timeout, lastErr)
}

// slotOf walks from pid up its parents to a worker drover started.
func slotOf(pid int, bySlot map[int]int) (int, bool) {
	for range 8 {
		if s, ok := bySlot[pid]; ok {
			return s, true
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, false
		}
		// The command name may hold spaces; the fields after its ')' do not.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 2 {
			return 0, false
		}
		if pid, err = strconv.Atoi(f[1]); err != nil || pid <= 1 {
			return 0, false
		}
	}
	return 0, false
}

// sigIgnored reports whether pid ignores sig (SigIgn in /proc/PID/status).
func sigIgnored(pid int, sig syscall.Signal) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return mask&(1<<(uint(sig)-1)) != 0, err
		}
	}
	return false, fmt.Errorf("no SigIgn in /proc/%d/status", pid)
}
