package cluster

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// helm install of the chart, as a release named drover, so that the
// Service is named drover too: the pod is Ready through drover's /readyz,
// runs one worker per CPU of requests.cpu, and helm test passes.
func TestHelmInstall(t *testing.T) {
	c := need(t)
	const release = "drover"
	start := time.Now()
	c.install(t, release, "replicaCount=1")
	p := c.awaitReady(t, release, 1, 3*time.Minute)[0]
	t.Logf("pod %s Ready through /readyz %v after helm install started", p.Name, time.Since(start).Round(time.Millisecond))
	if p.Spec.HostNetwork || p.Status.PodIP == nodeIP {
		t.Errorf("pod on the host's network (%s); want an address of the pod network", p.Status.PodIP)
	}
	if p.Spec.EnableServiceLinks == nil || *p.Spec.EnableServiceLinks {
		t.Error("the chart's pod has service links: a Service named drover hands it DROVER_SERVICE_HOST and the like")
	}

	// requests.cpu 1500m (the chart's default): 2 workers.
	s, err := c.droverStatus(p.Status.PodIP, 8081)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drover: %d workers, %d ready, cpu budget %v from %q", s.Desired, s.Ready, s.CPU.Cores, s.CPU.Source)
	if s.Desired != 2 || s.Ready != 2 || s.CPU.Cores != 1.5 || !strings.Contains(s.CPU.Source, "1500m") {
		t.Errorf("want 2 ready workers from requests.cpu 1500m through the Downward API")
	}

	// helm test: drover probe readyz from the app image, against the
	// Service's ClusterIP.
	t0 := time.Now()
	out, err := c.helm("test", release, "--timeout", "2m")
	if err != nil {
		c.dumpLogs(t)
		t.Fatal(err)
	}
	t.Logf("helm test passed in %v: %s", time.Since(t0).Round(time.Millisecond), strings.Join(strings.Fields(grepLine(out, "Phase")), " "))
}

// With service links on, the pod gets DROVER_SERVICE_HOST, DROVER_PORT,
// DROVER_PORT_8081_TCP_ADDR... from the Service named drover; drover must
// not take them for its configuration.
func TestServiceLinksAreNotConfiguration(t *testing.T) {
	c := need(t)
	if why := refusesServiceLinks(c); why != "" {
		t.Fatalf("this drover refuses service-link variables (%s): a Service named drover breaks every drover pod with service links", why)
	}
	const release = "drover"
	// 500m: the rollout below surges a second pod beside the first, and the
	// node has 2 CPUs.
	c.install(t, release, "replicaCount=1", "resources.requests.cpu=500m", "resources.requests.memory=64Mi")
	c.awaitReady(t, release, 1, 3*time.Minute)
	if _, err := c.kubectl("patch", "deployment", release, "-p", `{"spec":{"template":{"spec":{"enableServiceLinks":true}}}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kubectl("rollout", "status", "deployment/"+release, "--timeout=120s"); err != nil {
		c.dumpLogs(t)
		t.Fatal(err)
	}
	p := c.awaitReady(t, release, 1, time.Minute)[0]
	if p.Spec.EnableServiceLinks == nil || !*p.Spec.EnableServiceLinks {
		t.Fatal("the new pod has no service links")
	}
	out, err := c.kubectl("exec", p.Name, "--", "/usr/local/bin/drover", "status")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with DROVER_SERVICE_HOST and friends set, drover runs: %s", firstLine(out))
}

// refusesServiceLinks runs this checkout's drover with the variables a
// Service named drover injects, and says why it refused them, if it did.
func refusesServiceLinks(c *cluster) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.path("images"), "drover"), "--", "true")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "DROVER_HEALTH_ADDR=off",
		"DROVER_SERVICE_HOST=10.96.0.10", "DROVER_SERVICE_PORT=80", "DROVER_SERVICE_PORT_HTTP=80",
		"DROVER_PORT=tcp://10.96.0.10:80", "DROVER_PORT_80_TCP=tcp://10.96.0.10:80", "DROVER_PORT_80_TCP_PROTO=tcp",
		"DROVER_PORT_80_TCP_PORT=80", "DROVER_PORT_80_TCP_ADDR=10.96.0.10"}
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "DROVER_SERVICE") || strings.Contains(string(out), "DROVER_PORT") {
		return firstLine(string(out))
	}
	return ""
}

func grepLine(s, word string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			return l
		}
	}
	return ""
}
