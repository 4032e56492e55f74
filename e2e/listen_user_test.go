package e2e

// DROVER_USER: workers serve a privileged port without ever being root.

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// freePrivilegedPort finds a port below 1024 that nothing listens on:
// one of them is free on any machine the suite runs on.
func freePrivilegedPort(t *testing.T) int {
	t.Helper()
	for port := 80; port != 79; port = port%1023 + 1 {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("every port below 1024 on 127.0.0.1 is taken")
	return 0
}

// Workers run as the user (uid, gid, supplementary groups, no
// capabilities) and still answer on port 80 that drover bound as root;
// drover itself stays root. The exec shim runs as the user too, from a
// binary in a directory only root may enter (the harness's temp dir).
func TestListenUserServesPrivilegedPort(t *testing.T) {
	require(t, "root")
	port := freePrivilegedPort(t)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if start, _ := strconv.Atoi(strings.TrimSpace(string(b))); start <= port {
			t.Logf("note: ip_unprivileged_port_start=%d, so port %d is not privileged here; the uid and capability checks still hold", start, port)
		}
	}
	worker := worldExecutable(t)
	for _, user := range []string{"nobody", "65534:65534"} {
		t.Run(user, func(t *testing.T) {
			p := start(t, opts{pidns: true, env: []string{
				"DROVER_USER=" + user, "DROVER_LISTEN=127.0.0.1:" + strconv.Itoa(port), "DROVER_WORKERS=2",
			}}, workerCommand(worker, "listen-http")...)
			url := boundAddrs(t, p)[fmt.Sprintf("tcp-%d", port)]
			distinctPids(t, url, 2)
			creds := getURL(t, url, "/creds")
			for _, want := range []string{
				`(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$`,
				`(?m)^Gid:\s+65534\s+65534\s+65534\s+65534$`,
				`(?m)^Groups:[ \t]*(65534[ \t]*)?$`, // cleared, or nobody's own group
				`(?m)^CapPrm:\s+0+$`,
				`(?m)^CapEff:\s+0+$`,
			} {
				if !regexp.MustCompile(want).MatchString(creds) {
					t.Errorf("worker credentials do not match %s:\n%s", want, creds)
				}
			}
			if uid := strings.Fields(procStatus(p.pid)["Uid"]); len(uid) == 0 || uid[0] != "0" {
				t.Errorf("drover itself changed user: Uid %v", uid)
			}
			if strings.Contains(strings.Join(p.lines(), "\n"), "cannot run") {
				t.Errorf("the exec shim failed under DROVER_USER")
			}
			p.stop()
		})
	}
}
