package cluster

import (
	"strings"
	"testing"
	"time"
)

// The chart with hostNetwork on one node: the default strategy becomes
// maxSurge 0 / maxUnavailable 1 (a surge pod could not get the host
// ports), so a rollout finishes; helm test runs on the host's network too
// and reaches the Service; the health server binds the pod's IP only
// (drover.healthHost=podIP); resources.limits.cpu: null is left out.
func TestHostNetwork(t *testing.T) {
	c := need(t)
	const release = "hn"
	c.install(t, release, "replicaCount=1", "hostNetwork=true", "drover.healthHost=podIP",
		"resources.requests.cpu=500m", "resources.limits.cpu=null", "drover.drainDelay=2s")
	p := c.awaitReady(t, release, 1, 3*time.Minute)[0]
	if !p.Spec.HostNetwork || p.Status.PodIP != nodeIP {
		t.Fatalf("pod IP %s, hostNetwork %v; want the node's %s", p.Status.PodIP, p.Spec.HostNetwork, nodeIP)
	}
	if _, ok := p.Spec.Containers[0].Resources.Limits["cpu"]; ok {
		t.Errorf("limits %v: resources.limits.cpu=null should leave cpu out", p.Spec.Containers[0].Resources.Limits)
	}
	// Bound to the node's address only: nothing answers on loopback.
	if _, err := c.httpClient(time.Second).Get("http://127.0.0.1:8081/livez"); err == nil {
		t.Error("the health server answers on 127.0.0.1 with drover.healthHost=podIP")
	}
	if s, err := c.droverStatus(nodeIP, 8081); err != nil || s.Desired != 1 {
		t.Errorf("/status on the node's address: %+v %v", s, err)
	}

	t0 := time.Now()
	out, err := c.helm("test", release, "--timeout", "2m")
	if err != nil {
		c.dumpLogs(t)
		t.Fatal(err)
	}
	t.Logf("helm test on the host's network passed in %v: %s", time.Since(t0).Round(time.Millisecond), strings.Join(strings.Fields(grepLine(out, "Phase")), " "))

	t0 = time.Now()
	if _, err := c.kubectl("rollout", "restart", "deployment/hn-drover"); err != nil {
		t.Fatal(err)
	}
	c.awaitRollout(t, release, 1)
	t.Logf("rollout restart with hostNetwork on one node (maxSurge 0, maxUnavailable 1) done in %v", time.Since(t0).Round(time.Millisecond))
}
