package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

const (
	nodeName = "drover-e2e"
	// cgroupRoot keeps the kubelet's kubepods away from any other
	// kubelet on the machine: a kubelet kills processes it finds in pod
	// cgroups it does not know.
	cgroupRoot = "drover-e2e-cluster"
	// root is fixed, like the namespace and the cgroup root, so that a run
	// that was killed can be cleaned up by the next one.
	root = "/tmp/drover-e2e-cluster"
	// cniNet names the pod network; its results under /var/lib/cni carry
	// the name.
	cniNet = "drover-e2e-pods"
)

// bins are the programs the cluster runs.
type bins struct {
	etcd, apiserver, controllerManager, scheduler, kubectl, kubelet, kubeProxy, helm string
	containerd, ctr, runc, podman                                                    string
}

// cluster is one running cluster and what it takes to remove it again.
type cluster struct {
	bin    bins
	pki    *pki
	procs  []*proc
	dial   *dialer
	api    *apiClient
	admin  string // the admin kubeconfig
	sock   string // containerd's socket
	before hostState
	logf   func(format string, args ...any)
}

// proc is a component process started in the cluster's namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func (c *cluster) path(elem ...string) string {
	return filepath.Join(append([]string{root}, elem...)...)
}

// start runs argv in the cluster's namespace with its output in
// logs/name.log. It dies with the test process (Pdeathsig), so a test
// killed by its timeout leaves no component behind.
func (c *cluster) start(name string, argv ...string) (*proc, error) {
	log := c.path("logs", name+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	cmd := inNetns(argv...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p, nil
}

// stop sends SIGTERM and SIGKILL after timeout.
func (p *proc) stop(timeout time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// await polls cond every 100ms until it holds, a component exits, or
// timeout passes.
func (c *cluster) await(timeout time.Duration, what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return nil
		}
		if state != "" {
			last = state
		}
		for _, p := range c.procs {
			if p.exited() {
				return fmt.Errorf("%s: %s exited (%v):\n%s", what, p.name, p.cmd.ProcessState, tail(p.log, 30))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// up brings the whole cluster up; on error the caller still calls down.
func (c *cluster) up() error {
	steps := []struct {
		name string
		f    func() error
	}{
		{"network namespace", createNetns},
		{"certificates", c.certs},
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"controller-manager and scheduler", c.startControllers},
		{"containerd", c.startContainerd},
		{"images", c.images},
		{"kubelet and kube-proxy", c.startNode},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.f(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		c.logf("cluster: %s in %v", s.name, time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

func (c *cluster) certs() error {
	for _, d := range []string{"logs", "etcd", "kubelet", "pod-logs", "cni/net.d", "cni/ipam", "helm", "kubecache", "images"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return err
		}
	}
	p, err := newPKI(c.path("pki"))
	if err != nil {
		return err
	}
	c.pki = p
	for _, id := range []struct {
		name, cn string
		orgs     []string
		ips, dns []string
	}{
		{"apiserver", "kube-apiserver", nil, []string{nodeIP, apiSvcIP, "127.0.0.1"},
			[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{"admin", "drover-e2e-admin", []string{"system:masters"}, nil, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil, nil},
		{"kubelet", "system:node:" + nodeName, []string{"system:nodes"}, nil, nil},
		{"kube-proxy", "system:kube-proxy", nil, nil, nil},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil},
	} {
		if err := p.issue(id.name, id.cn, id.orgs, id.ips, id.dns); err != nil {
			return err
		}
	}
	server := "https://" + nodeIP + ":6443"
	for _, n := range []string{"admin", "controller-manager", "scheduler", "kubelet", "kube-proxy"} {
		f, err := p.kubeconfig(n, server)
		if err != nil {
			return err
		}
		if n == "admin" {
			c.admin = f
		}
	}
	if c.dial, err = newDialer(); err != nil {
		return err
	}
	c.api, err = newAPIClient(c.dial, "https://"+nodeIP+":6443", p)
	return err
}

func (c *cluster) startEtcd() error {
	// --unsafe-no-fsync: a throwaway store on a machine shared with
	// other tests; fsync latency would only slow every write.
	if _, err := c.start("etcd", c.bin.etcd, "--name", nodeName, "--data-dir", c.path("etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", nodeName+"=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: c.dial.DialContext}, Timeout: 2 * time.Second}
	return c.await(60*time.Second, "etcd healthy", func() (bool, string) {
		resp, err := hc.Get("http://127.0.0.1:2379/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}

func (c *cluster) startAPIServer() error {
	pk := c.pki.path
	if _, err := c.start("kube-apiserver", c.bin.apiserver,
		"--etcd-servers=http://127.0.0.1:2379", "--bind-address=0.0.0.0", "--advertise-address="+nodeIP, "--secure-port=6443",
		"--tls-cert-file="+pk("apiserver.crt"), "--tls-private-key-file="+pk("apiserver.key"), "--client-ca-file="+pk("ca.crt"),
		"--service-account-key-file="+pk("sa.pub"), "--service-account-signing-key-file="+pk("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+svcCIDR, "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true", "--kubelet-client-certificate="+pk("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+pk("apiserver-kubelet-client.key"), "--kubelet-preferred-address-types=InternalIP,Hostname",
		"--cert-dir="+c.path("apiserver-certs"), "--v=1"); err != nil {
		return err
	}
	return c.await(120*time.Second, "kube-apiserver ready", func() (bool, string) {
		code, body, err := c.api.raw(http.MethodGet, "/readyz", "", nil)
		if err != nil {
			return false, err.Error()
		}
		return code == 200, body
	})
}

func (c *cluster) startControllers() error {
	pk := c.pki.path
	cm := pk("controller-manager.kubeconfig")
	if _, err := c.start("kube-controller-manager", c.bin.controllerManager, "--kubeconfig="+cm,
		"--authentication-kubeconfig="+cm, "--authorization-kubeconfig="+cm, "--bind-address=127.0.0.1",
		"--secure-port=10257", "--leader-elect=false", "--service-account-private-key-file="+pk("sa.key"),
		"--root-ca-file="+pk("ca.crt"), "--use-service-account-credentials=true",
		"--cluster-signing-cert-file="+pk("ca.crt"), "--cluster-signing-key-file="+pk("ca.key"),
		"--service-cluster-ip-range="+svcCIDR, "--v=1"); err != nil {
		return err
	}
	sc := pk("scheduler.kubeconfig")
	if _, err := c.start("kube-scheduler", c.bin.scheduler, "--kubeconfig="+sc,
		"--authentication-kubeconfig="+sc, "--authorization-kubeconfig="+sc, "--bind-address=127.0.0.1",
		"--secure-port=10259", "--leader-elect=false", "--v=1"); err != nil {
		return err
	}
	// Pods need the namespace's default ServiceAccount, which the
	// controller-manager creates.
	return c.await(90*time.Second, "the default ServiceAccount", func() (bool, string) {
		code, body, err := c.api.raw(http.MethodGet, "/api/v1/namespaces/default/serviceaccounts/default", "", nil)
		if err != nil {
			return false, err.Error()
		}
		return code == 200, body
	})
}

func (c *cluster) startContainerd() error {
	def, err := exec.Command(c.bin.containerd, "config", "default").Output()
	if err != nil {
		return fmt.Errorf("containerd config default: %w", err)
	}
	conf := string(def)
	for _, r := range []struct{ re, repl string }{
		{`(?m)^(\s*)sandbox_image = ".*"`, `${1}sandbox_image = "` + pauseImage + `"`},
		{`(?m)^(\s*)snapshotter = "overlayfs"`, `${1}snapshotter = "native"`},
		{`(?m)^(\s*)BinaryName = ""`, `${1}BinaryName = "` + c.path("images", "runcwrap") + `"`},
		{`(?m)^(\s*)bin_dir = ".*"`, `${1}bin_dir = "/usr/lib/cni"`},
		{`(?m)^(\s*)conf_dir = ".*"`, `${1}conf_dir = "` + c.path("cni", "net.d") + `"`},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(conf) {
			return fmt.Errorf("containerd config default has nothing matching %s", r.re)
		}
		conf = re.ReplaceAllString(conf, r.repl)
	}
	if err := os.WriteFile(c.path("containerd.toml"), []byte(conf), 0o644); err != nil {
		return err
	}
	// The only file in the CNI directory (containerd loads one, and adds
	// loopback itself): veth pairs to the node's namespace (ptp; this
	// kernel lacks some device types, so no bridge) and addresses from
	// host-local, its state under the test's directory.
	cni := fmt.Sprintf(`{"cniVersion":"0.4.0","name":%q,"plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","subnet":%q,"dataDir":%q,"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
		cniNet, podCIDR, c.path("cni", "ipam"))
	if err := os.WriteFile(c.path("cni", "net.d", "10-pods.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	// The runc wrapper must exist before containerd starts a container;
	// it is built with the images, so build it now.
	if err := c.buildRuncwrap(); err != nil {
		return err
	}
	c.sock = c.path("containerd.sock")
	if _, err := c.start("containerd", c.bin.containerd, "--config", c.path("containerd.toml"),
		"--root", c.path("containerd-root"), "--state", c.path("containerd-state"), "--address", c.sock); err != nil {
		return err
	}
	return c.await(60*time.Second, "containerd answers", func() (bool, string) {
		out, err := c.ctr("version")
		return err == nil, out
	})
}

func (c *cluster) ctr(args ...string) (string, error) {
	out, err := exec.Command(c.bin.ctr, append([]string{"--address", c.sock, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// makeCgroupRoot creates the kubelet's cgroupRoot in every v1 hierarchy
// (the kubelet requires it to exist), with cpuset's cpus and mems copied
// from the parent, which a new cpuset cgroup starts without.
func makeCgroupRoot() error {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, d := range dirs {
		if filepath.Base(d) == "unified" {
			continue
		}
		dir := filepath.Join(d, cgroupRoot)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			continue // read-only or not a hierarchy
		}
		if filepath.Base(d) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(d, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return fmt.Errorf("%s/%s: %w", dir, f, err)
				}
			}
		}
	}
	return nil
}

func (c *cluster) startNode() error {
	if err := makeCgroupRoot(); err != nil {
		return err
	}
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://%[1]s
cgroupDriver: cgroupfs
cgroupRoot: /%[2]s
failSwapOn: false
failCgroupV1: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[3]s}
authorization: {mode: AlwaysAllow}
address: %[4]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
resolvConf: ""
podLogsDir: %[5]s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%%, imagefs.available: 1%%}
`, c.sock, cgroupRoot, c.pki.path("ca.crt"), nodeIP, c.path("pod-logs"))
	if err := os.WriteFile(c.path("kubelet.yaml"), []byte(conf), 0o644); err != nil {
		return err
	}
	if _, err := c.start("kubelet", c.bin.kubelet, "--config="+c.path("kubelet.yaml"),
		"--kubeconfig="+c.pki.path("kubelet.kubeconfig"), "--root-dir="+c.path("kubelet"),
		"--cert-dir="+c.path("kubelet", "pki"), "--hostname-override="+nodeName, "--node-ip="+nodeIP, "--v=2"); err != nil {
		return err
	}
	if _, err := c.start("kube-proxy", c.bin.kubeProxy, "--kubeconfig="+c.pki.path("kube-proxy.kubeconfig"),
		"--hostname-override="+nodeName, "--proxy-mode=iptables", "--conntrack-max-per-core=0",
		"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256",
		"--cluster-cidr="+podCIDR, "--v=1"); err != nil {
		return err
	}
	return c.await(120*time.Second, "the node is Ready", func() (bool, string) {
		var n struct {
			Status struct {
				Conditions []struct{ Type, Status, Reason, Message string }
			}
		}
		if err := c.api.get("/api/v1/nodes/"+nodeName, &n); err != nil {
			return false, err.Error()
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" {
				return cond.Status == "True", cond.Reason + ": " + cond.Message
			}
		}
		return false, "no Ready condition"
	})
}

// kubectl and helm run inside the namespace as the admin, with their
// caches under the test's directory.
func (c *cluster) tool(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := inNetns(append([]string{bin}, args...)...)
	if ctx != nil {
		cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	}
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.admin, "KUBECACHEDIR="+c.path("kubecache"),
		"HELM_CACHE_HOME="+c.path("helm", "cache"), "HELM_CONFIG_HOME="+c.path("helm", "config"),
		"HELM_DATA_HOME="+c.path("helm", "data"))
	return cmd
}

func (c *cluster) run(timeout time.Duration, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := c.tool(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *cluster) kubectl(args ...string) (string, error) {
	return c.run(3*time.Minute, c.bin.kubectl, args...)
}

func (c *cluster) helm(args ...string) (string, error) {
	return c.run(5*time.Minute, c.bin.helm, args...)
}

func tail(file string, lines int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
