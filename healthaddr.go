package main

import (
	"fmt"
	"net"
	"strconv"
)

// checkHealthAddr refuses a health address that is one of drover's own
// listening sockets. Binding it would fail with "address in use", which
// sends the user looking for another process when the clash is in their
// own configuration.
func checkHealthAddr(health string, listen []net.Addr) error {
	host, port, err := net.SplitHostPort(health)
	if err != nil {
		return nil // the bind reports it
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return nil
	}
	hip := net.ParseIP(host)
	if host != "" && hip == nil {
		return nil // a name: only the bind can tell
	}
	for _, a := range listen {
		ta, ok := a.(*net.TCPAddr)
		if !ok || ta.Port != p {
			continue
		}
		if host == "" || hip.IsUnspecified() || ta.IP.IsUnspecified() || hip.Equal(ta.IP) {
			return fmt.Errorf("DROVER_HEALTH_ADDR=%q is the same address as DROVER_LISTEN (%s); choose another port for one of them, or set DROVER_HEALTH_ADDR=off", health, ta)
		}
	}
	return nil
}
