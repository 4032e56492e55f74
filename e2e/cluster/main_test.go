package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const kubeVersion = "v1.35.4"

// shared is the one cluster of a test run: it is brought up by the first
// test that needs it and removed by TestMain after the last one.
type shared struct {
	once sync.Once
	c    *cluster
	err  error
	lock *os.File
}

func TestMain(m *testing.M) {
	s := &shared{}
	env = s
	code := m.Run()
	if s.c != nil {
		// The tests are over: their t.Logf would panic.
		s.c.logf = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
		t0 := time.Now()
		s.c.down()
		left := leftovers(s.c.before)
		fmt.Printf("cluster: down in %v\n", time.Since(t0).Round(time.Millisecond))
		if len(left) > 0 {
			fmt.Printf("FAIL: left behind after the clean-up:\n  %s\n", strings.Join(left, "\n  "))
			code = 1
		}
	}
	if s.lock != nil {
		s.lock.Close()
	}
	os.Exit(code)
}

// env is set once by TestMain, before any test runs, and only read after.
var env *shared

// need returns the running cluster, bringing it up on the first call, or
// skips (fails in CI) naming what is missing.
func need(t *testing.T) *cluster {
	t.Helper()
	if os.Getenv("DROVER_E2E_CLUSTER") != "1" {
		t.Skip("set DROVER_E2E_CLUSTER=1 to run drover on a one-node Kubernetes (e2e/cluster/run builds what it needs; ~30 min the first time)")
	}
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" || os.Getenv("DROVER_E2E_REQUIRE") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		missing("needs root: it runs a kubelet, containerd and a network namespace")
	}
	b, why := findBins()
	if why != "" {
		missing("%s", why)
	}
	env.once.Do(func() { env.c, env.err = bringUp(t, b) })
	if env.err != nil {
		t.Fatal(env.err)
	}
	env.c.logf = t.Logf
	return env.c
}

// findBins locates the cluster's binaries (e2e/cluster/build) and the
// machine's containerd, runc and podman.
func findBins() (bins, string) {
	var b bins
	dir := os.Getenv("DROVER_E2E_CLUSTER_BIN")
	if dir == "" {
		cache := os.Getenv("DROVER_E2E_CACHE")
		if cache == "" {
			cache = "/var/cache/drover-e2e"
		}
		dir = filepath.Join(cache, "cluster-"+kubeVersion+"-etcd-v3.6.17-helm-v3.22.0")
	}
	for dst, name := range map[*string]string{&b.etcd: "etcd", &b.apiserver: "kube-apiserver", &b.controllerManager: "kube-controller-manager",
		&b.scheduler: "kube-scheduler", &b.kubectl: "kubectl", &b.kubelet: "kubelet", &b.kubeProxy: "kube-proxy", &b.helm: "helm"} {
		*dst = filepath.Join(dir, name)
		if _, err := os.Stat(*dst); err != nil {
			return b, fmt.Sprintf("%s is not built: e2e/cluster/build builds it into %s (~30 min the first time)", name, dir)
		}
	}
	for dst, name := range map[*string]string{&b.containerd: "containerd", &b.ctr: "ctr", &b.runc: "runc", &b.podman: "podman"} {
		p, err := exec.LookPath(name)
		if err != nil && name == "runc" {
			p, err = "/usr/sbin/runc", nil
			if _, serr := os.Stat(p); serr != nil {
				err = serr
			}
		}
		if err != nil {
			return b, fmt.Sprintf("%s is not installed (e2e/cluster/run installs it with apt-get)", name)
		}
		*dst = p
	}
	for _, cmd := range []string{"nsenter", "ip", "iptables"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return b, fmt.Sprintf("%s is not installed", cmd)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/ptp"); err != nil {
		return b, "the CNI plugins are not installed (apt-get install containernetworking-plugins)"
	}
	return b, ""
}

// bringUp takes the machine-wide lock (the namespace, cgroup root and
// directory have fixed names), removes what a killed run may have left,
// and brings a cluster up.
func bringUp(t *testing.T, b bins) (*cluster, error) {
	lock, err := os.OpenFile("/run/drover-e2e-cluster.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	env.lock = lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("another cluster test holds /run/drover-e2e-cluster.lock; waiting for it")
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return nil, err
		}
	}
	if netnsExists() || exists(root) {
		t.Logf("cluster: removing what an earlier run left in %s and %s", root, nsPath)
		removeHostState(hostState{kubeletDir: !staleKubeletDir(), logsDir: true, podNetns: map[string]bool{}}, t.Logf)
	}
	c := &cluster{bin: b, before: snapshotHost(), logf: t.Logf}
	t0 := time.Now()
	if err := c.up(); err != nil {
		for _, p := range c.procs {
			if !p.exited() && p.name == "kubelet" { // an exited one is in err
				t.Logf("%s log:\n%s", p.name, tail(p.log, 40))
			}
		}
		return c, err
	}
	t.Logf("cluster: up in %v (Kubernetes %s, node %s at %s)", time.Since(t0).Round(time.Millisecond), kubeVersion, nodeName, nodeIP)
	return c, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// staleKubeletDir tells whether /var/lib/kubelet holds nothing but the
// device-plugin socket a kubelet always creates, and no kubelet runs: then
// it is what a killed run of this test left.
func staleKubeletDir() bool {
	var files []string
	filepath.WalkDir("/var/lib/kubelet", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 || files[0] != "/var/lib/kubelet/device-plugins/kubelet.sock" {
		return false
	}
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, e := range exes {
		if target, err := os.Readlink(e); err == nil && filepath.Base(target) == "kubelet" {
			return false
		}
	}
	return true
}
