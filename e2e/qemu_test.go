package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// qemuHangMark starts the line a failed test logs when drover ran under
// qemu-user and one of its children was still qemu running drover's image:
// qemu-user 7.2 now and then deadlocks in a forked child of a
// multi-threaded guest before it reaches exec (Go programs hang under
// qemu-user in several ways, golang/go#70329 among them). .ci/run reruns
// the arm64 smoke subset once when, and only when, a failure carries it.
const qemuHangMark = "qemu-user hang:"

// qemuInterpreter is the resolved path of the qemu-user binary the kernel
// runs drover with, or "" when drover is native.
var qemuInterpreter = sync.OnceValue(func() string {
	arch, err := elfArch(droverBin)
	if err != nil || arch == runtime.GOARCH {
		return ""
	}
	p, err := binfmtInterpreter(arch)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
})

// binfmtInterpreter is the interpreter of the enabled binfmt_misc entry
// that Debian's qemu-user-static registers for a GOARCH.
func binfmtInterpreter(arch string) (string, error) {
	entry := "/proc/sys/fs/binfmt_misc/qemu-" + qemuHandler[arch]
	b, err := os.ReadFile(entry)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(string(b), "enabled") {
		return "", fmt.Errorf("%s is disabled", entry)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "interpreter "); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s names no interpreter", entry)
}

// qemuHang describes the processes under root that are qemu running a
// child of a process qemu runs, that is drover's forks that never
// reached exec (or a shim that never got past the Go runtime's start):
// "" when there are none or drover is native. Called when a test has
// already failed, before its processes are killed.
func qemuHang(root int) string {
	interp := qemuInterpreter()
	if interp == "" {
		return ""
	}
	underQemu := func(pid int) bool {
		p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return err == nil && p == interp
	}
	var stuck []string
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children(pid) {
			if underQemu(pid) && underQemu(c) {
				stuck = append(stuck, fmt.Sprint(c))
			}
			queue = append(queue, c)
		}
	}
	if len(stuck) == 0 {
		return ""
	}
	return fmt.Sprintf("%s drover's child %s is still %s running drover's own image: a fork that never reached exec, qemu's deadlock, not drover's (natively the same case runs)",
		qemuHangMark, strings.Join(stuck, ", "), interp)
}
