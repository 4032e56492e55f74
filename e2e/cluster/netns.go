package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The cluster's network: a namespace of the test's own with a veth pair
// whose two ends are both inside it (this kernel has no dummy device), the
// node's address on one end and the default route through it. Nothing
// routes out of the namespace; node, pod and Service addresses exist only
// in it.
const (
	nsName   = "drover-e2e-cluster"
	nsPath   = "/run/netns/" + nsName
	nodeIP   = "10.123.0.1"
	podCIDR  = "10.124.0.0/24"
	svcCIDR  = "10.96.0.0/16"
	apiSvcIP = "10.96.0.1"
)

func createNetns() error {
	steps := [][]string{
		{"ip", "netns", "add", nsName},
		{"ip", "-n", nsName, "link", "set", "lo", "up"},
		{"ip", "-n", nsName, "link", "add", "k8s0", "type", "veth", "peer", "name", "k8s1"},
		{"ip", "-n", nsName, "addr", "add", nodeIP + "/24", "dev", "k8s0"},
		{"ip", "-n", nsName, "link", "set", "k8s0", "up"},
		{"ip", "-n", nsName, "link", "set", "k8s1", "up"},
		{"ip", "-n", nsName, "route", "add", "default", "dev", "k8s0"},
		{"nsenter", "--net=" + nsPath, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		// The load generator opens a connection per request to one
		// Service port: with the whole range it does not come back to a
		// source port while the conntrack entries of a pod that just went
		// away are still there (see startLoad).
		{"nsenter", "--net=" + nsPath, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// inNetns runs argv in the cluster's network namespace. nsenter, not
// `ip netns exec`: the latter remounts /sys, which hides the cgroup
// hierarchies from the kubelet and runc.
func inNetns(argv ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + nsPath, "--"}, argv...)...)
}

// dialer opens sockets inside the cluster's namespace from this process: a
// socket belongs to the namespace of the thread that created it, so a
// locked thread enters the namespace, dials, and comes back.
type dialer struct{ fd int }

func newDialer() (*dialer, error) {
	fd, err := syscall.Open(nsPath, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", nsPath, err)
	}
	return &dialer{fd: fd}, nil
}

func (d *dialer) close() { syscall.Close(d.fd) }

func setns(fd int) error { return unix.Setns(fd, unix.CLONE_NEWNET) }

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := syscall.Open("/proc/thread-self/ns/net", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer syscall.Close(self)
		if err := setns(d.fd); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		// A thread that cannot go back stays locked and ends with the
		// goroutine, so no other goroutine runs in the wrong namespace.
		if setns(self) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// nsPids lists the processes whose network namespace is the cluster's.
func nsPids() []int {
	out, _ := exec.Command("ip", "netns", "pids", nsName).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var p int
		if _, err := fmt.Sscan(f, &p); err == nil && p != os.Getpid() {
			pids = append(pids, p)
		}
	}
	return pids
}

func netnsExists() bool {
	_, err := os.Stat(nsPath)
	return err == nil
}

func deleteNetns() error {
	if !netnsExists() {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "del", nsName).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", nsName, err, out)
	}
	return nil
}
