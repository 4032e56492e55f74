package sockwait

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Explain says what pid's tree does instead of waiting on socks, for the
// log line about a worker that never started listening: sentences, none
// when nothing stands out. It reads more than Check (the TCP tables of the
// worker's network namespace), so it is meant for once per failure.
func (c *Checker) Explain(pid int, socks []Socket) []string {
	var out []string
	held := false
	own := map[uint64]int{} // socket inode -> pid holding it
	var pids []int
	kids, _ := c.walk(pid, func(p int, d *procDir, tids []string) bool {
		info, err := c.inspect(d, tids, socks, false)
		if err != nil {
			return true
		}
		pids = append(pids, p)
		held = held || info.holds
		for _, ino := range info.own {
			if _, ok := own[ino]; !ok {
				own[ino] = p
			}
		}
		return true
	})
	if len(pids) == 0 {
		return nil
	}
	if comm := c.comm(pid); isShell(comm) && len(kids) > 0 {
		out = append(out, fmt.Sprintf("pid %d is a shell (%s) that did not exec the server: LISTEN_PID is the shell's pid, so servers that check it (gunicorn, puma) ignore the socket; write `exec server …` in sh -c", pid, comm))
	}
	if len(own) > 0 {
		ports := map[int]bool{}
		for _, s := range socks {
			if s.Port != 0 {
				ports[s.Port] = true
			}
		}
		for _, l := range c.tcpListeners(pid, own) {
			msg := fmt.Sprintf("pid %d (%s) listens on %s with a socket of its own", l.pid, c.comm(l.pid), l.addr)
			if ports[l.port] {
				msg += fmt.Sprintf(", drover's port %d: it bound the port itself instead of using the socket drover passed", l.port)
			}
			out = append(out, msg)
		}
	}
	if !held {
		out = append(out, "no process of its tree has drover's socket open: it closed it, or never used fd 3 / LISTEN_FDS")
	}
	return out
}

type tcpListener struct {
	pid  int
	addr string
	port int
}

// tcpListeners finds which of the sockets in own are listening TCP
// sockets, from the TCP tables of pid's network namespace.
func (c *Checker) tcpListeners(pid int, own map[uint64]int) []tcpListener {
	var out []tcpListener
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(c.root, strconv.Itoa(pid), "net", name))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 || fl[3] != "0A" { // TCP_LISTEN
				continue
			}
			ino, err := strconv.ParseUint(fl[9], 10, 64)
			if err != nil {
				continue
			}
			p, ok := own[ino]
			if !ok {
				continue
			}
			ip, port, ok := parseAddr(fl[1])
			if !ok {
				continue
			}
			out = append(out, tcpListener{pid: p, addr: net.JoinHostPort(ip.String(), strconv.Itoa(port)), port: port})
		}
		f.Close()
	}
	return out
}

// parseAddr reads "0100007F:1F90": the address as the kernel's 32-bit
// words in host byte order, then the port.
func parseAddr(s string) (net.IP, int, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, 0, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, 0, false
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	return ip, int(port), true
}
