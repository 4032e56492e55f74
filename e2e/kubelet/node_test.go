package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// node is a containerd and a kubelet under one temporary directory.
type node struct {
	t        *testing.T
	dir      string
	sock     string
	bin      bins
	kubelet  *exec.Cmd
	kubeDone chan struct{}
	ctrd     *exec.Cmd
	ctrdDone chan struct{}
	roPort   int
	hostname string
	// varLibKubelet: /var/lib/kubelet existed before the kubelet started.
	varLibKubelet bool
}

// bins are the programs the test needs from the machine.
type bins struct {
	containerd, ctr, runc, podman, helm, kubelet string
}

// The kubelet is the one e2e/cluster/build builds (with kube-apiserver and
// the rest, for e2e/cluster): one build for both tests.
const (
	kubeVersion = "v1.35.4"
	clusterBins = "cluster-" + kubeVersion + "-etcd-v3.6.17-helm-v3.22.0"
	// cgroupRoot keeps the kubelet's kubepods away from any other kubelet
	// on the machine: a kubelet kills processes it finds in pod cgroups it
	// does not know.
	cgroupRoot = "drover-e2e-kubelet"
)

// prerequisites finds every program or skips naming the one missing and
// how to get it.
func prerequisites(t *testing.T) bins {
	t.Helper()
	if os.Getenv("DROVER_E2E_KUBELET") != "1" {
		t.Skip("set DROVER_E2E_KUBELET=1 to run drover under a real kubelet (e2e/kubelet/run installs what it needs; ~30 min the first time)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: it runs containerd and a kubelet")
	}
	var b bins
	look := func(dst *string, name, hint string, extra ...string) {
		if p, err := exec.LookPath(name); err == nil {
			*dst = p
			return
		}
		for _, p := range extra {
			if _, err := os.Stat(p); err == nil {
				*dst = p
				return
			}
		}
		t.Skipf("%s is not installed (%s)", name, hint)
	}
	look(&b.containerd, "containerd", "apt-get install containerd")
	look(&b.ctr, "ctr", "apt-get install containerd")
	look(&b.runc, "runc", "apt-get install runc", "/usr/sbin/runc")
	look(&b.podman, "podman", "apt-get install podman")
	cache := os.Getenv("DROVER_E2E_CACHE")
	if cache == "" {
		cache = "/var/cache/drover-e2e"
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	helmBin := os.Getenv("HELM")
	if helmBin == "" {
		helmBin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "helm")
	}
	look(&b.helm, "helm", "e2e/cluster/build builds it, or helm/check installs it", helmBin, filepath.Join(cache, clusterBins, "helm"))
	kube := os.Getenv("DROVER_E2E_KUBELET_BIN")
	if kube == "" {
		kube = filepath.Join(cache, clusterBins, "kubelet")
	}
	look(&b.kubelet, "drover-e2e-kubelet", "e2e/cluster/build builds it into "+cache+" in about 30 minutes", kube)
	return b
}

// freePort asks the kernel for a loopback port that is free now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (n *node) ctrCmd(args ...string) *exec.Cmd {
	return exec.Command(n.bin.ctr, append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)...)
}

func (n *node) ctr(args ...string) string {
	n.t.Helper()
	out, err := n.ctrCmd(args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start launches cmd with its output in file and a channel closed when
// it exits.
func start(t *testing.T, cmd *exec.Cmd, logFile string) chan struct{} {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	return done
}

// stop sends SIGTERM to cmd and SIGKILL if it is still there after timeout.
func stop(cmd *exec.Cmd, done chan struct{}, timeout time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
	}
}

// await polls cond every 100ms until it holds or timeout passes.
func await(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		if state != "" {
			last = state
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startContainerd(t *testing.T, n *node, pauseImage, runcwrap string) {
	def := run(t, n.bin.containerd, "config", "default")
	conf := strings.Replace(def, `sandbox_image = "`, `sandbox_image = "`+pauseImage+`" # `, 1)
	conf = regexp.MustCompile(`(?m)^(\s*)snapshotter = "overlayfs"`).ReplaceAllString(conf, `${1}snapshotter = "native"`)
	conf = regexp.MustCompile(`(?m)^(\s*)BinaryName = ""`).ReplaceAllString(conf, `${1}BinaryName = "`+runcwrap+`"`)
	if !strings.Contains(conf, runcwrap) || !strings.Contains(conf, pauseImage) {
		t.Fatalf("containerd config default has no sandbox_image or runc BinaryName to set:\n%s", def)
	}
	confFile := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.ctrd = exec.Command(n.bin.containerd, "--config", confFile, "--root", filepath.Join(n.dir, "containerd-root"),
		"--state", filepath.Join(n.dir, "containerd-state"), "--address", n.sock)
	n.ctrdDone = start(t, n.ctrd, filepath.Join(n.dir, "containerd.log"))
	await(t, 30*time.Second, "containerd answers", func() (bool, string) {
		out, err := n.ctrCmd("version").CombinedOutput()
		return err == nil, string(out)
	})
}

func startKubelet(t *testing.T, n *node) {
	port, health := freePort(t), freePort(t)
	n.roPort = freePort(t)
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %[1]s/manifests
fileCheckFrequency: 1s
containerRuntimeEndpoint: unix://%[2]s
cgroupDriver: cgroupfs
cgroupRoot: /%[6]s
failSwapOn: false
failCgroupV1: false
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
address: 127.0.0.1
port: %[3]d
readOnlyPort: %[4]d
healthzBindAddress: 127.0.0.1
healthzPort: %[5]d
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
resolvConf: ""
podLogsDir: %[1]s/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, n.dir, n.sock, port, n.roPort, health, cgroupRoot)
	confFile := filepath.Join(n.dir, "kubelet.yaml")
	for _, d := range []string{"manifests", "pod-logs", "kubelet"} {
		os.MkdirAll(filepath.Join(n.dir, d), 0o755)
	}
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The kubelet always creates /var/lib/kubelet/device-plugins/kubelet.sock
	// (a fixed path, whatever --root-dir says): remove it afterwards unless
	// it was there before.
	_, err := os.Stat("/var/lib/kubelet")
	n.varLibKubelet = err == nil
	if err := makeCgroupRoot(); err != nil {
		t.Fatal(err)
	}
	n.kubelet = exec.Command(n.bin.kubelet, "--config", confFile, "--root-dir", filepath.Join(n.dir, "kubelet"),
		"--hostname-override", n.hostname, "--v", "2")
	n.kubeDone = start(t, n.kubelet, filepath.Join(n.dir, "kubelet.log"))
	await(t, 60*time.Second, "kubelet healthz", func() (bool, string) {
		select {
		case <-n.kubeDone:
			t.Fatalf("kubelet exited: %v\n%s", n.kubelet.ProcessState, tail(filepath.Join(n.dir, "kubelet.log"), 30))
		default:
		}
		code, body := get(fmt.Sprintf("http://127.0.0.1:%d/healthz", health))
		return code == 200, body
	})
}

// cleanup stops the kubelet, every container it left, containerd and its
// shims, and unmounts what is left under the node's directory.
func (n *node) cleanup() {
	stop(n.kubelet, n.kubeDone, 15*time.Second)
	if n.ctrd != nil {
		if out, err := n.ctrCmd("tasks", "ls", "-q").Output(); err == nil {
			for _, id := range strings.Fields(string(out)) {
				n.ctrCmd("tasks", "kill", "-s", "SIGKILL", id).Run()
			}
		}
		time.Sleep(500 * time.Millisecond)
		if out, err := n.ctrCmd("containers", "ls", "-q").Output(); err == nil {
			for _, id := range strings.Fields(string(out)) {
				n.ctrCmd("tasks", "delete", "-f", id).Run()
				n.ctrCmd("containers", "delete", id).Run()
			}
		}
	}
	stop(n.ctrd, n.ctrdDone, 10*time.Second)
	n.killShims()
	n.unmountAll()
	n.removeHostState()
	if n.t.Failed() && os.Getenv("DROVER_E2E_KEEP") != "" {
		n.t.Logf("kept %s", n.dir)
		return
	}
	os.RemoveAll(n.dir)
}

// killShims ends the containerd shims started for this node's socket: they
// outlive containerd by design.
func (n *node) killShims() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "containerd-shim") || !strings.Contains(string(b), n.sock) {
			continue
		}
		var pid int
		fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (n *node) unmountAll() {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], n.dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

func get(url string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func tail(file string, lines int) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var all []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		all = append(all, s.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
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
			continue // not a hierarchy, or read-only
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

// removeHostState removes what a kubelet leaves outside its root
// directory: its cgroup root (empty once the pods are gone; rmdir refuses
// any cgroup that is not), the /var/log/containers links of its pods, and
// /var/lib/kubelet when it was not there before.
func (n *node) removeHostState() {
	if !n.varLibKubelet {
		os.RemoveAll("/var/lib/kubelet")
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupRoot)
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			syscall.Rmdir(dirs[i])
		}
	}
	links, _ := filepath.Glob("/var/log/containers/*_default_*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, n.dir+"/") {
			os.Remove(l)
		}
	}
}
