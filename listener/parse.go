package listener

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// accepted ends every Parse error so a user can fix the value without
// opening the docs.
const accepted = "accepted: [name=]tcp://host:port, host:port, :port, unix:///abs/path, fd://N, fd://NAME"

// Kind is the transport of one DROVER_LISTEN item.
type Kind uint8

// The kinds of DROVER_LISTEN items.
const (
	TCP  Kind = iota + 1 // tcp://host:port, host:port, :port
	Unix                 // unix:///abs/path
	FD                   // fd://N or fd://NAME, inherited through drover's own LISTEN_FDS
)

func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case Unix:
		return "unix"
	case FD:
		return "fd"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Spec is one parsed DROVER_LISTEN item. Only the fields of its Kind are set.
type Spec struct {
	// Name is the worker's LISTEN_FDNAMES entry: the item's "name=" or the
	// default documented in the package comment.
	Name string
	Kind Kind
	// Host is empty for every address of both families, else an IP literal
	// in canonical form (no brackets) or a lower-case host name.
	Host string
	// Port 0 lets the kernel choose; Set.Addrs reports the result.
	Port int
	// Path is the absolute, clean path of a unix socket.
	Path string
	// FD (>= 3) or FDName selects a socket drover inherited.
	FD     int
	FDName string

	named bool // Name came from the item, so String shows it
}

// Address is the canonical form of the item without its name; Parse
// accepts it back.
func (s Spec) Address() string {
	switch s.Kind {
	case TCP:
		return "tcp://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	case Unix:
		return "unix://" + s.Path
	case FD:
		if s.FDName != "" {
			return "fd://" + s.FDName
		}
		return "fd://" + strconv.Itoa(s.FD)
	}
	return s.Kind.String() + "://?"
}

// String is the canonical item as a user would write it, for messages.
func (s Spec) String() string {
	if s.named {
		return s.Name + "=" + s.Address()
	}
	return s.Address()
}

// Parse reads DROVER_LISTEN: a comma-separated list of [name=]address
// items. An empty value means no listeners. Errors are one line naming
// DROVER_LISTEN, the item and the accepted forms.
func Parse(value string) ([]Spec, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	items := strings.Split(value, ",")
	specs := make([]Spec, 0, len(items))
	for i, raw := range items {
		item := strings.TrimSpace(raw)
		if item == "" {
			return nil, fmt.Errorf("DROVER_LISTEN: %q: item %d of %d is empty (%s)", item, i+1, len(items), accepted)
		}
		sp, err := parseItem(item)
		if err != nil {
			return nil, itemError(item, err.Error())
		}
		for _, prev := range specs {
			if why := conflict(prev, sp); why != "" {
				return nil, itemError(item, why)
			}
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

func itemError(item, why string) error {
	return fmt.Errorf("DROVER_LISTEN: %q: %s (%s)", item, why, accepted)
}

func parseItem(item string) (Spec, error) {
	var sp Spec
	addr := item
	// A name cannot contain ':', so an '=' after a ':' belongs to the address
	// (unix:///a=b, fd://x=y).
	if i := strings.IndexByte(item, '='); i >= 0 && !strings.Contains(item[:i], ":") {
		sp.Name, sp.named = strings.TrimSpace(item[:i]), true
		if err := checkName(sp.Name); err != nil {
			return sp, fmt.Errorf("name %q %v", sp.Name, err)
		}
		addr = strings.TrimSpace(item[i+1:])
		if addr == "" {
			return sp, errors.New("missing address after \"" + sp.Name + "=\"")
		}
	}
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		if strings.Contains(addr, "/") {
			return sp, errors.New(`a URL needs "://" after the scheme (unix:///abs/path has three slashes)`)
		}
		if !strings.Contains(addr, ":") {
			if isDigits(addr) {
				return sp, fmt.Errorf("missing ':' before the port (did you mean \":%s\"?)", addr)
			}
			return sp, errors.New("not an address: expected host:port or a URL")
		}
		scheme, rest = "tcp", addr
	}
	var err error
	switch strings.ToLower(scheme) {
	case "tcp":
		sp.Kind = TCP
		sp.Host, sp.Port, err = parseHostPort(rest)
		if err == nil && !sp.named {
			sp.Name = "tcp-" + strconv.Itoa(sp.Port)
		}
	case "unix":
		sp.Kind = Unix
		sp.Path, err = parsePath(rest)
		if err == nil && !sp.named {
			sp.Name = unixName(sp.Path)
		}
	case "fd":
		sp.Kind = FD
		err = parseFD(&sp, rest)
	default:
		err = fmt.Errorf("unsupported scheme %q: use tcp, unix or fd", scheme)
	}
	return sp, err
}

func parseHostPort(hp string) (string, int, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, fmt.Errorf("expected host:port: %s (IPv6 needs brackets: [::1]:8080)", ae.Err)
		}
		return "", 0, errors.New("expected host:port")
	}
	if port == "" {
		return "", 0, errors.New("missing port after ':'")
	}
	n, err := strconv.Atoi(port)
	if !isDigits(port) || err != nil || n > 65535 {
		return "", 0, errors.New("port must be 1-65535 (or 0 for a port the kernel chooses)")
	}
	if host == "" {
		return "", n, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if z := ip.Zone(); z != "" && !isZone(z) {
			return "", 0, fmt.Errorf("IPv6 zone %q is not an interface name or index", z)
		}
		return ip.String(), n, nil
	}
	if strings.ContainsAny(host, ":%") {
		return "", 0, fmt.Errorf("host %q is not a valid IPv6 address", host)
	}
	if err := checkHostname(host); err != nil {
		return "", 0, fmt.Errorf("host %q %v", host, err)
	}
	return strings.ToLower(host), n, nil
}

func checkHostname(h string) error {
	if len(h) > 253 {
		return errors.New("is longer than 253 bytes")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return errors.New("is not a valid host name (empty or over-long label)")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(isAlnum(c) || c == '-' || c == '_') {
				return fmt.Errorf("is not a valid host name or IP address (byte %q)", c)
			}
		}
	}
	if isDigits(labels[len(labels)-1]) {
		return errors.New("is not a valid IP address")
	}
	return nil
}

func parsePath(p string) (string, error) {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "", errors.New("path must be absolute: write unix:///abs/path (three slashes)")
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", errors.New("path contains a control character")
	case strings.HasSuffix(p, "/"):
		return "", errors.New("path names a directory; name the socket file")
	case path.Clean(p) != p:
		return "", fmt.Errorf("path is not clean: write %q", path.Clean(p))
	case len(p) > maxUnixPath:
		return "", fmt.Errorf("path is %d bytes; the kernel allows at most %d for a unix socket", len(p), maxUnixPath)
	}
	return p, nil
}

// maxUnixPath is sizeof(sun_path) minus the terminating NUL.
const maxUnixPath = 107

func parseFD(sp *Spec, rest string) error {
	if rest == "" {
		return errors.New("missing descriptor: fd://N (N >= 3) or fd://NAME")
	}
	if isDigits(rest) {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 3 || n > 1<<20 {
			return errors.New("descriptor must be 3 or more (inherited sockets start at fd 3; 0-2 are stdio)")
		}
		sp.FD = n
		if !sp.named {
			sp.Name = "fd-" + strconv.Itoa(n)
		}
		return nil
	}
	if err := checkName(rest); err != nil {
		return fmt.Errorf("inherited socket name %q %v", rest, err)
	}
	sp.FDName = rest
	if !sp.named {
		sp.Name = rest
	}
	return nil
}

// checkName enforces what sd_listen_fds_with_names can split back: ':'
// separates LISTEN_FDNAMES entries and systemd caps a name at 255 bytes.
func checkName(n string) error {
	if n == "" {
		return errors.New("is empty")
	}
	if len(n) > 255 {
		return errors.New("is longer than 255 bytes")
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !nameByte(c) {
			return fmt.Errorf("contains %q: names are printable ASCII without ':' or spaces", c)
		}
	}
	return nil
}

func nameByte(c byte) bool { return c > ' ' && c < 0x7f && c != ':' }

// unixName derives a valid default name from the socket's file name.
func unixName(p string) string {
	b := []byte(path.Base(p))
	for i, c := range b {
		if !nameByte(c) {
			b[i] = '_'
		}
	}
	n := "unix-" + string(b)
	if len(n) > 255 {
		n = n[:255]
	}
	return n
}

// conflict explains why b cannot be listed next to a, or returns "".
// Overlapping TCP addresses are refused here because bind would report
// them as "address in use", blaming another process.
func conflict(a, b Spec) string {
	if why := addrConflict(a, b); why != "" {
		return why
	}
	if a.Name != b.Name {
		return ""
	}
	if !b.named {
		return fmt.Sprintf("default name %q is already used by %q; give the items distinct names (name=address)", b.Name, a.String())
	}
	return fmt.Sprintf("name %q is already used by %q; names must be unique", b.Name, a.String())
}

func addrConflict(a, b Spec) string {
	if a.Kind != b.Kind {
		return ""
	}
	same := fmt.Sprintf("same address as %q", a.String())
	switch a.Kind {
	case TCP:
		if a.Port != b.Port || a.Port == 0 {
			return ""
		}
		if a.Host == b.Host {
			return same
		}
		if dualStack(a.Host) || dualStack(b.Host) ||
			(a.Host == "0.0.0.0" && isIPv4(b.Host)) || (b.Host == "0.0.0.0" && isIPv4(a.Host)) {
			return fmt.Sprintf("overlaps %q: a wildcard host already covers this address on port %d", a.String(), a.Port)
		}
	case Unix:
		if a.Path == b.Path {
			return same
		}
	case FD:
		if (a.FDName != "" && a.FDName == b.FDName) || (a.FD != 0 && a.FD == b.FD) {
			return same
		}
	}
	return ""
}

func dualStack(host string) bool { return host == "" || host == "::" }

func isIPv4(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Is4()
}

func isZone(z string) bool {
	for i := 0; i < len(z); i++ {
		if c := z[i]; !(isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '@') {
			return false
		}
	}
	return len(z) <= 15
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
