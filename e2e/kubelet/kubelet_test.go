package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The chart's pod under a real kubelet: drover is PID 1, sizes the pool
// from requests.cpu through the Downward API, is marked Ready through
// /readyz and kept live through /livez, replaces a SIGKILLed worker without
// the container restarting, and on the pod's removal fails readiness first,
// drains and exits 0 within the grace period.
func TestChartPodUnderKubelet(t *testing.T) {
	b := prerequisites(t)
	dir, err := os.MkdirTemp("", "drover-k8s-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dir: dir, sock: filepath.Join(dir, "containerd.sock"), bin: b, hostname: "drover-k8s-e2e"}
	t.Cleanup(n.cleanup)

	drover, server, pause, runcwrap := binaries(t, dir, b)
	startContainerd(t, n, pauseImage, runcwrap)
	importImage(t, n, pauseImage, map[string]string{"/pause": pause}, "/pause", "")
	importImage(t, n, appImage, map[string]string{"/usr/local/bin/drover": drover, "/app/server": server}, "/usr/local/bin/drover", "/app/server")
	startKubelet(t, n)

	appPort, healthPort := freePort(t), freePort(t)
	set := []string{
		fmt.Sprintf("drover.listen=http=tcp://127.0.0.1:%d", appPort),
		fmt.Sprintf("drover.appPort=%d", appPort),
		fmt.Sprintf("drover.healthPort=%d", healthPort),
	}
	if !droverKnows(t, drover, "DROVER_CPU_FILE") {
		t.Log("this drover has no DROVER_CPU_FILE: the pod gets DROVER_CPU_MILLICORES only")
		set = append(set, "drover.cpuFile=")
	}
	pod := renderPod(t, b.helm, set...)
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	manifest, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	static := filepath.Join(dir, "manifests", "drover-e2e.yaml")
	if err := os.WriteFile(static, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	kubeletLog := filepath.Join(dir, "kubelet.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubelet log:\n%s", tail(kubeletLog, 40))
		}
	})

	// Ready through the kubelet's own probes.
	start := time.Now()
	await(t, 3*time.Minute, "the kubelet marks the pod Ready", func() (bool, string) {
		p, why := n.pod(t)
		if p == nil {
			return false, why
		}
		return podReady(p), fmt.Sprintf("phase %s conditions %v containers %v", p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
	})
	t.Logf("pod Ready %v after the manifest was written", time.Since(start).Round(time.Millisecond))
	p, _ := n.pod(t)
	cs := appStatus(p)
	if cs == nil || !cs.Ready || cs.RestartCount != 0 || cs.ContainerID == "" {
		t.Fatalf("app container status %+v, want ready, never restarted", cs)
	}
	id := strings.TrimPrefix(cs.ContainerID, "containerd://")

	// drover is PID 1 of the app container.
	pid := n.taskPid(t, id)
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if ns := nsPid(t, pid); ns != "1" || filepath.Base(exe) != "drover" {
		t.Fatalf("the container's first process is %s as pid %s in its namespace, want drover as 1", exe, ns)
	}

	// Two workers from requests.cpu 1500m through the Downward API.
	s, body := droverStatus(t, healthPort)
	if s == nil {
		t.Fatal(body)
	}
	t.Logf("cpu budget %.2f from %q: %s", s.CPU.Cores, s.CPU.Source, s.CPU.Reason)
	if s.Desired != 2 || len(s.Workers) != 2 || s.CPU.Cores != 1.5 || !strings.Contains(s.CPU.Source, "1500") {
		t.Fatalf("want 2 workers from a 1.5 CPU budget given as 1500 millicores; /status: %s", body)
	}
	if kids := children(pid); len(kids) != 2 {
		t.Fatalf("drover (host pid %d) has children %v, want the 2 workers", pid, kids)
	}
	if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/", appPort)); code != 200 || !strings.HasPrefix(body, "hello from worker") {
		t.Fatalf("app: %d %q", code, body)
	}

	// A worker killed with SIGKILL is replaced inside the same container.
	victim := children(pid)[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	await(t, 30*time.Second, "drover replaces the killed worker", func() (bool, string) {
		kids := children(pid)
		s, body := droverStatus(t, healthPort)
		if s == nil || len(kids) != 2 || kids[0] == victim || kids[1] == victim || s.Ready != 2 {
			return false, fmt.Sprintf("children %v, /status %s", kids, body)
		}
		restarts := 0
		for _, w := range s.Workers {
			restarts += w.Restarts
		}
		return restarts == 1, body
	})
	t.Logf("worker replaced and ready %v after kill -9", time.Since(killed).Round(time.Millisecond))
	await(t, 15*time.Second, "the kubelet sees the pod Ready again", func() (bool, string) {
		p, why := n.pod(t)
		return p != nil && podReady(p), why
	})
	p, _ = n.pod(t)
	if cs := appStatus(p); cs == nil || cs.RestartCount != 0 || strings.TrimPrefix(cs.ContainerID, "containerd://") != id {
		t.Fatalf("app container after the kill: %+v, want the same container, restartCount 0", cs)
	}
	// Liveness has been probed all along (every 2 s, 3 failures restart):
	// the container was never restarted.
	if since := time.Since(start); since < 6*time.Second {
		time.Sleep(6*time.Second - since)
	}
	p, _ = n.pod(t)
	if cs := appStatus(p); cs == nil || cs.RestartCount != 0 || cs.LastTerminationState.Terminated != nil {
		t.Fatalf("the kubelet restarted the app container: %+v", cs)
	}

	// Removing the pod: readiness fails first, drover drains, exits 0 in time.
	exits := n.watchExits(t)
	time.Sleep(200 * time.Millisecond) // ctr events subscribes asynchronously
	if err := os.Remove(static); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	var notReady, lastLive time.Time
	var exit *exitEvent
	deadline := time.After(grace + 20*time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for exit == nil {
		select {
		case e := <-exits.exits:
			if e.id == id {
				exit = &e
			}
		case <-tick.C:
			if code, _ := get(fmt.Sprintf("http://127.0.0.1:%d/livez", healthPort)); code == 200 {
				lastLive = time.Now()
			}
			if notReady.IsZero() {
				if code, _ := get(fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort)); code == 503 {
					notReady = time.Now()
				}
			}
		case <-deadline:
			t.Fatalf("drover did not exit within %v of the pod's removal (grace %v)", grace+20*time.Second, grace)
		}
	}
	t.Logf("pod removed: /readyz 503 after %v, last /livez 200 after %v, exit %d after %v (grace %v)",
		notReady.Sub(removed).Round(time.Millisecond), lastLive.Sub(removed).Round(time.Millisecond),
		exit.status, exit.at.Sub(removed).Round(time.Millisecond), grace)
	if notReady.IsZero() {
		t.Error("/readyz never answered 503 during the drain")
	}
	if !lastLive.After(notReady) {
		t.Errorf("/livez was not answering after /readyz failed (readyz 503 at %v, last livez at %v): readiness must fail first",
			notReady.Sub(removed), lastLive.Sub(removed))
	}
	if exit.status != 0 {
		t.Errorf("drover exited %d, want 0", exit.status)
	}
	if took := exit.at.Sub(removed); took > grace {
		t.Errorf("drover exited %v after the removal, past the grace period %v", took, grace)
	}
	// /readyz is polled every 50ms, so its failure is seen up to a poll
	// late; the drain itself is DROVER_DRAIN_DELAY (2s) from the SIGTERM.
	if drain := exit.at.Sub(notReady); !notReady.IsZero() && drain < 2*time.Second-250*time.Millisecond {
		t.Errorf("drover exited %v after readiness failed, before DROVER_DRAIN_DELAY (2s) passed", drain)
	}
}
