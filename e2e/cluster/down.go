package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostState is what existed outside the test's directory before it
// started, so that the clean-up removes only what the cluster added.
type hostState struct {
	kubeletDir bool // /var/lib/kubelet: the kubelet always creates device-plugins/kubelet.sock there
	logsDir    bool // /var/log/containers
	podNetns   map[string]bool
}

func snapshotHost() hostState {
	h := hostState{podNetns: map[string]bool{}}
	_, err := os.Stat("/var/lib/kubelet")
	h.kubeletDir = err == nil
	_, err = os.Stat("/var/log/containers")
	h.logsDir = err == nil
	ns, _ := filepath.Glob("/run/netns/cni-*")
	for _, n := range ns {
		h.podNetns[n] = true
	}
	return h
}

// down stops and removes everything up started, in an order where each
// step still has what it needs: pods through the kubelet (so the CNI
// plugins release their addresses and containerd removes the pods'
// namespaces), then the kubelet, leftover containers, containerd and its
// shims, the control plane, and last whatever is left on the host.
func (c *cluster) down() {
	if c.api != nil && c.bin.kubectl != "" && c.admin != "" {
		c.kubectl("delete", "deployments,pods", "--all", "--all-namespaces", "--wait=false", "--grace-period=2")
		err := c.await(90*time.Second, "every pod stopped", func() (bool, string) {
			out, err := c.ctr("tasks", "ls")
			if err != nil {
				return true, ""
			}
			return !strings.Contains(out, "RUNNING"), out
		})
		if err != nil {
			c.logf("clean-up: %v", err)
		}
	}
	c.stopProc("kube-proxy", 10*time.Second)
	c.stopProc("kubelet", 15*time.Second)
	if c.sock != "" {
		c.removeContainers()
	}
	c.stopProc("containerd", 10*time.Second)
	for _, n := range []string{"kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		c.stopProc(n, 15*time.Second)
	}
	for _, p := range c.procs {
		if !p.exited() {
			p.stop(5 * time.Second)
		}
	}
	if c.dial != nil {
		c.dial.close()
	}
	removeHostState(c.before, c.logf)
}

func (c *cluster) stopProc(name string, timeout time.Duration) {
	for _, p := range c.procs {
		if p.name == name && !p.exited() {
			p.stop(timeout)
		}
	}
}

// removeContainers kills and deletes what the kubelet left in containerd
// (pod sandboxes are kept until garbage collection), and removes the
// network namespace of each sandbox.
func (c *cluster) removeContainers() {
	out, err := c.ctr("containers", "ls", "-q")
	if err != nil {
		return
	}
	for _, id := range strings.Fields(out) {
		if info, err := c.ctr("containers", "info", id); err == nil {
			if ns := sandboxNetns(info); ns != "" {
				removePodNetns(ns)
			}
		}
		c.ctr("tasks", "kill", "-s", "SIGKILL", id)
		c.ctr("tasks", "delete", "-f", id)
		c.ctr("containers", "delete", id)
	}
}

// sandboxNetns finds the network namespace path in `ctr containers info`.
func sandboxNetns(info string) string {
	var ci struct {
		Spec struct {
			Linux struct {
				Namespaces []struct{ Type, Path string }
			}
		}
	}
	if json.Unmarshal([]byte(info), &ci) != nil {
		return ""
	}
	for _, n := range ci.Spec.Linux.Namespaces {
		if n.Type == "network" && strings.HasPrefix(filepath.Base(n.Path), "cni-") {
			return filepath.Join("/run/netns", filepath.Base(n.Path))
		}
	}
	return ""
}

func removePodNetns(path string) {
	syscall.Unmount(path, syscall.MNT_DETACH)
	os.Remove(path)
}

// removeHostState removes, by what it is rather than by what a process
// remembers, everything a cluster of this test leaves on the host; it also
// cleans up after a run that was killed. It never touches what existed
// before (before) and never a process or file that is not the test's.
func removeHostState(before hostState, logf func(string, ...any)) {
	// Processes: everything in the cluster's namespace (components,
	// hostNetwork containers), every process of a pod (in the cgroup root
	// of the test's kubelet), and the shims, which run from containerd's
	// state under root.
	for i := 0; i < 50; i++ {
		pids := ownPids()
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond) // no event tells when a killed process is gone
	}
	for _, ns := range ourPodNetns(before) {
		removePodNetns(ns)
	}
	for _, m := range mountsUnder(root + "/") {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			logf("clean-up: umount %s: %v", m, err)
		}
	}
	removeCgroups()
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, root+"/") {
			os.Remove(l)
		}
	}
	if !before.logsDir {
		os.Remove("/var/log/containers") // only if empty
	}
	results, _ := filepath.Glob("/var/lib/cni/results/" + cniNet + "-*")
	for _, r := range results {
		os.Remove(r)
	}
	os.RemoveAll("/var/lib/cni/networks/" + cniNet)
	if !before.kubeletDir {
		os.RemoveAll("/var/lib/kubelet")
	}
	if err := deleteNetns(); err != nil {
		logf("clean-up: %v", err)
	}
	if os.Getenv("DROVER_E2E_KEEP") == "" {
		if err := os.RemoveAll(root); err != nil {
			logf("clean-up: %v", err)
		}
	} else {
		logf("clean-up: DROVER_E2E_KEEP is set, %s kept", root)
	}
}

// ownPids lists the processes that are the test's: in its namespace, in
// its kubelet's cgroups, or run from its directory (containerd shims).
func ownPids() []int {
	seen := map[int]bool{}
	for _, p := range nsPids() {
		seen[p] = true
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupRoot)
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, s := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(s); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), root+"/") {
			continue
		}
		if p, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			seen[p] = true
		}
	}
	delete(seen, os.Getpid())
	var out []int
	for p := range seen {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// ourPodNetns are the pod namespaces this test's containerd made and did
// not remove: new since the start and holding an address of the test's pod
// network. One the CNI plugin already emptied cannot be told from another
// test's; the leftover check reports it.
func ourPodNetns(before hostState) []string {
	var out []string
	all, _ := filepath.Glob("/run/netns/cni-*")
	for _, ns := range all {
		if before.podNetns[ns] {
			continue
		}
		b, _ := exec.Command("ip", "-n", filepath.Base(ns), "-4", "-o", "addr").Output()
		if strings.Contains(string(b), " 10.124.0.") {
			out = append(out, ns)
		}
	}
	return out
}

func mountsUnder(prefix string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], prefix) {
			out = append(out, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// removeCgroups removes the kubelet's cgroup root in every hierarchy,
// deepest first; rmdir refuses any cgroup that still has a process.
func removeCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupRoot)
	for _, r := range roots {
		var dirs []string
		filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			syscall.Rmdir(dirs[i])
		}
	}
}

// leftovers lists everything of the test still on the host.
func leftovers(before hostState) []string {
	var out []string
	if netnsExists() {
		out = append(out, "network namespace "+nsName)
	}
	if p := ownPids(); len(p) > 0 {
		for _, pid := range p {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			out = append(out, fmt.Sprintf("process %d %s", pid, strings.ReplaceAll(string(cmd), "\x00", " ")))
		}
	}
	if m := mountsUnder(root + "/"); len(m) > 0 {
		out = append(out, "mounts "+strings.Join(m, " "))
	}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupRoot)
	out = append(out, cg...)
	all, _ := filepath.Glob("/run/netns/cni-*")
	for _, ns := range all {
		if !before.podNetns[ns] {
			out = append(out, "pod network namespace "+ns+" (new since the start; maybe another test's)")
		}
	}
	if _, err := os.Stat("/var/lib/kubelet"); err == nil && !before.kubeletDir {
		out = append(out, "/var/lib/kubelet")
	}
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, root+"/") {
			out = append(out, l)
		}
	}
	results, _ := filepath.Glob("/var/lib/cni/results/" + cniNet + "-*")
	out = append(out, results...)
	if _, err := os.Stat(root); err == nil && os.Getenv("DROVER_E2E_KEEP") == "" {
		out = append(out, root)
	}
	return out
}
