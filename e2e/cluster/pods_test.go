package cluster

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var chartDir = filepath.Join(repo(), "helm", "drover")

// baseValues are what every install sets: the locally built image, which
// no registry has, and workers that report READY=1.
var baseValues = []string{
	"image.repository=" + strings.Split(appImage, ":")[0],
	"image.tag=" + strings.Split(appImage, ":")[1],
	"image.pullPolicy=Never",
	"drover.ready=notify",
}

// install runs helm install and registers the uninstall, which waits for
// the release's pods to be gone so that the next test has the node's CPU.
func (c *cluster) install(t *testing.T, release string, set ...string) {
	t.Helper()
	args := []string{"install", release, chartDir}
	for _, s := range append(append([]string{}, baseValues...), set...) {
		args = append(args, "--set", s)
	}
	if out, err := c.helm(args...); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("helm install %s: %s", release, firstLine(out))
	}
	t.Cleanup(func() { c.uninstall(t, release) })
}

func (c *cluster) uninstall(t *testing.T, release string) {
	t.Helper()
	if out, err := c.helm("uninstall", release, "--wait", "--timeout", "2m"); err != nil && !strings.Contains(out, "not found") {
		t.Errorf("helm uninstall %s: %v", release, err)
	}
	err := c.await(2*time.Minute, "the pods of "+release+" are gone", func() (bool, string) {
		pods, err := c.pods(release)
		if err != nil {
			return false, err.Error()
		}
		return len(pods) == 0, fmt.Sprintf("%d pods left", len(pods))
	})
	if err != nil {
		t.Error(err)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// pods lists the release's pods, terminating ones included.
func (c *cluster) pods(release string) ([]corev1.Pod, error) {
	var list corev1.PodList
	sel := url.QueryEscape("app.kubernetes.io/instance=" + release)
	if err := c.api.get("/api/v1/namespaces/default/pods?labelSelector="+sel, &list); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Annotations["helm.sh/hook"] == "" { // not the helm test pod
			out = append(out, p)
		}
	}
	return out, nil
}

func (c *cluster) pod(name string) (*corev1.Pod, error) {
	var p corev1.Pod
	return &p, c.api.get("/api/v1/namespaces/default/pods/"+name, &p)
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func describe(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "%s %s ready=%v", p.Name, p.Status.Phase, podReady(&p))
		for _, cs := range p.Status.ContainerStatuses {
			switch {
			case cs.State.Waiting != nil:
				fmt.Fprintf(&b, " waiting %s %s", cs.State.Waiting.Reason, cs.State.Waiting.Message)
			case cs.State.Terminated != nil:
				fmt.Fprintf(&b, " terminated %s %d", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
			}
			if cs.RestartCount > 0 {
				fmt.Fprintf(&b, " restarts %d", cs.RestartCount)
			}
		}
		b.WriteString("; ")
	}
	return b.String()
}

// awaitReady waits until the release has exactly n pods, all Ready and
// none terminating, and returns them.
func (c *cluster) awaitReady(t *testing.T, release string, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	err := c.await(timeout, fmt.Sprintf("%d Ready pods of %s", n, release), func() (bool, string) {
		pods, err := c.pods(release)
		if err != nil {
			return false, err.Error()
		}
		ready = ready[:0]
		for _, p := range pods {
			if podReady(&p) {
				ready = append(ready, p)
			}
		}
		return len(ready) == n && len(pods) == n, describe(pods)
	})
	if err != nil {
		c.dumpLogs(t)
		t.Fatal(err)
	}
	return ready
}

// dumpLogs shows the kubelet's last lines and the pods' logs.
func (c *cluster) dumpLogs(t *testing.T) {
	t.Helper()
	t.Logf("kubelet log:\n%s", tail(c.path("logs", "kubelet.log"), 30))
	logs, _ := filepath.Glob(c.path("pod-logs", "*", "*", "*.log"))
	for _, l := range logs {
		t.Logf("%s:\n%s", strings.TrimPrefix(l, c.path("pod-logs")+"/"), tail(l, 15))
	}
}

// container is the app container of a running pod, seen from the host.
type container struct {
	pid    int
	cgroup string // its cpu cgroup v1 directory
	file   string // the Downward API file behind DROVER_CPU_FILE, on the host
}

func (c *cluster) appContainer(t *testing.T, p *corev1.Pod) container {
	t.Helper()
	var id string
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "app" {
			id = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	out, err := c.ctr("tasks", "ls")
	if err != nil {
		t.Fatal(err)
	}
	var ct container
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == id {
			ct.pid, _ = strconv.Atoi(f[1])
		}
	}
	if ct.pid == 0 {
		t.Fatalf("no containerd task for the app container %q of %s:\n%s", id, p.Name, out)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ct.pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\d+:(?:[^:]*,)?cpu(?:,[^:]*)?:(.*)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("drover (pid %d) has no cpu cgroup v1:\n%s", ct.pid, b)
	}
	for _, base := range []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"} {
		if _, err := os.Stat(filepath.Join(base, m[1], "cpu.shares")); err == nil {
			ct.cgroup = filepath.Join(base, m[1])
		}
	}
	if ct.cgroup == "" {
		t.Fatalf("no cpu.shares for drover's cgroup %s", m[1])
	}
	ct.file = c.path("kubelet", "pods", string(p.UID), "volumes", "kubernetes.io~downward-api", "drover-cpu", "cpu_millicores")
	return ct
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
