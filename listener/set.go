package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Options tune Open. The zero value is the production setting except for
// ReusePort.
type Options struct {
	// ReusePort gives every worker slot its own SO_REUSEPORT socket for each
	// TCP item (DROVER_REUSEPORT).
	ReusePort bool
	// Backlog is the listen(2) queue length; 0 means net.core.somaxconn
	// (4096 when it cannot be read).
	Backlog int
	// LookupEnv reads drover's own LISTEN_PID, LISTEN_FDS and
	// LISTEN_FDNAMES; nil means os.LookupEnv. Tests inject it.
	LookupEnv func(key string) (string, bool)
	// Pid is drover's pid, compared with LISTEN_PID; 0 means os.Getpid().
	Pid int
}

// Set owns drover's listening sockets from Open until Close. Its methods
// are safe for concurrent use.
type Set struct {
	reusePort bool
	backlog   int
	entries   []entry // in DROVER_LISTEN order; fixed after Open

	mu     sync.Mutex
	slots  map[int][]*os.File // ReusePort: each slot's files, in entry order
	closed bool
}

type entry struct {
	spec Spec
	file *os.File // the shared socket; nil for TCP in ReusePort mode
	addr net.Addr
	// TCP: once bound, the actual address, so later reuseport slots join
	// the same port even when the kernel chose it.
	target tcpTarget
	bound  bool
	// Unix: identity of the socket file drover made, so Close removes only
	// that file and never one a successor created at the same path.
	dev, ino uint64
}

// Open binds every spec before any worker exists, so a taken port or a bad
// path fails drover's start instead of a worker's. In ReusePort mode it
// binds slot 0. It also marks every descriptor drover inherited through
// LISTEN_FDS close-on-exec, so drover should call it (with no specs, if
// DROVER_LISTEN is empty) before starting workers.
func Open(specs []Spec, opt Options) (*Set, error) {
	in := readInherited(opt)
	in.closeOnExec()
	s := &Set{
		reusePort: opt.ReusePort,
		backlog:   opt.Backlog,
		entries:   make([]entry, len(specs)),
		slots:     make(map[int][]*os.File),
	}
	if s.backlog <= 0 {
		s.backlog = defaultBacklog()
	}
	adopted := make(map[int]Spec)
	for i, sp := range specs {
		if err := s.openShared(i, sp, specs[:i], in, adopted); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.reusePort {
		if _, err := s.openSlot(0); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Set) openShared(i int, sp Spec, prev []Spec, in inherited, adopted map[int]Spec) error {
	if err := validate(sp, prev); err != nil {
		return err
	}
	e := &s.entries[i]
	e.spec = sp
	switch sp.Kind {
	case TCP:
		if s.reusePort {
			return nil // bound per slot by openSlot
		}
		t, err := resolveTCP(sp)
		if err != nil {
			return err
		}
		fd, t, err := listenTCP(sp, t, false, s.backlog)
		if err != nil {
			return err
		}
		e.file, e.target, e.bound = os.NewFile(uintptr(fd), sp.Name), t, true
		e.addr = sockAddr(t.sa, unix.SOCK_STREAM)
	case Unix:
		fd, err := listenUnix(sp, s.backlog)
		if err != nil {
			return err
		}
		e.file = os.NewFile(uintptr(fd), sp.Name)
		e.addr = &net.UnixAddr{Name: sp.Path, Net: "unix"}
		var st unix.Stat_t
		if unix.Lstat(sp.Path, &st) == nil {
			e.dev, e.ino = st.Dev, st.Ino
		}
	case FD:
		ifd, err := in.resolve(sp)
		if err != nil {
			return err
		}
		if p, ok := adopted[ifd]; ok {
			return fmt.Errorf("DROVER_LISTEN: %s: same inherited socket (fd %d) as %s", sp, ifd, p)
		}
		adopted[ifd] = sp
		fd, sotype, err := adopt(sp, ifd)
		if err != nil {
			return err
		}
		e.file = os.NewFile(uintptr(fd), sp.Name)
		if sa, err := unix.Getsockname(fd); err == nil {
			e.addr = sockAddr(sa, sotype)
		}
	}
	return nil
}

// validate guards against Specs built by hand instead of by Parse.
func validate(sp Spec, prev []Spec) error {
	bad := func(why string) error {
		return fmt.Errorf("DROVER_LISTEN: %s: %s (%s)", sp, why, accepted)
	}
	if sp.Kind < TCP || sp.Kind > FD {
		return bad("unknown kind " + sp.Kind.String())
	}
	if err := checkName(sp.Name); err != nil {
		return bad(fmt.Sprintf("name %q %v", sp.Name, err))
	}
	if sp.Kind == TCP && (sp.Port < 0 || sp.Port > 65535) {
		return bad("port must be 1-65535 (or 0 for a port the kernel chooses)")
	}
	if sp.Kind == Unix && !strings.HasPrefix(sp.Path, "/") {
		return bad("path must be absolute")
	}
	if sp.Kind == FD && sp.FDName == "" && sp.FD < listenFDsStart {
		return bad("descriptor must be 3 or more")
	}
	for _, p := range prev {
		if why := conflict(p, sp); why != "" {
			return bad(why)
		}
	}
	return nil
}

// openSlot binds a reuseport slot's TCP sockets; unix and inherited
// sockets cannot be multiplied, so every slot shares them. Caller holds
// s.mu or has not published s yet.
func (s *Set) openSlot(slot int) ([]*os.File, error) {
	files := make([]*os.File, len(s.entries))
	for i := range s.entries {
		e := &s.entries[i]
		if e.spec.Kind != TCP {
			files[i] = e.file
			continue
		}
		t := e.target
		if !e.bound {
			var err error
			if t, err = resolveTCP(e.spec); err != nil {
				closeOwn(s.entries, files)
				return nil, err
			}
			if err = checkFree(e.spec, t); err != nil {
				closeOwn(s.entries, files)
				return nil, err
			}
		}
		fd, t, err := listenTCP(e.spec, t, true, s.backlog)
		if err != nil {
			closeOwn(s.entries, files)
			return nil, fmt.Errorf("%w [worker slot %d]", err, slot)
		}
		if !e.bound {
			e.target, e.bound = t, true
			e.addr = sockAddr(t.sa, unix.SOCK_STREAM)
		}
		files[i] = os.NewFile(uintptr(fd), e.spec.Name+"#"+strconv.Itoa(slot))
	}
	s.slots[slot] = files
	return files, nil
}

// closeOwn closes a slot's own (TCP) sockets, never the shared ones.
func closeOwn(entries []entry, files []*os.File) error {
	var errs []error
	for i, f := range files {
		if f != nil && entries[i].spec.Kind == TCP {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// Files returns the sockets for a worker slot, in DROVER_LISTEN order, to
// pass as exec.Cmd.ExtraFiles (fds 3, 4, …). They stay open until Release
// or Close; the caller must not close them. Shared mode returns the same
// files for every slot. ReusePort mode binds a slot's sockets on its first
// call and returns the same ones until Release, so a restarted worker
// inherits the queue its predecessor left.
func (s *Set) Files(slot int) ([]*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("listener: Files(%d) after Close: %w", slot, net.ErrClosed)
	}
	if slot < 0 {
		return nil, fmt.Errorf("listener: Files(%d): slot must be >= 0", slot)
	}
	if !s.reusePort {
		files := make([]*os.File, len(s.entries))
		for i, e := range s.entries {
			files[i] = e.file
		}
		return files, nil
	}
	files, ok := s.slots[slot]
	if !ok {
		var err error
		if files, err = s.openSlot(slot); err != nil {
			return nil, err
		}
	}
	return append([]*os.File(nil), files...), nil
}

// Release closes a removed slot's own SO_REUSEPORT sockets; call it only
// after that slot's worker has stopped, because connections still queued
// on them are reset. Shared sockets stay open. It is a no-op in shared mode
// and for a slot without sockets.
func (s *Set) Release(slot int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	files, ok := s.slots[slot]
	if !ok {
		return nil
	}
	delete(s.slots, slot)
	return closeOwn(s.entries, files)
}

// Names are the LISTEN_FDNAMES entries, in DROVER_LISTEN order.
func (s *Set) Names() []string {
	names := make([]string, len(s.entries))
	for i, e := range s.entries {
		names[i] = e.spec.Name
	}
	return names
}

// Addrs are the bound addresses, in DROVER_LISTEN order, with the port the
// kernel chose for port 0. An inherited socket whose address cannot be read
// is nil.
func (s *Set) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]net.Addr, len(s.entries))
	for i, e := range s.entries {
		addrs[i] = e.addr
	}
	return addrs
}

// Close closes every socket and removes the unix socket files drover
// created. Call it only when no worker will be started again.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for slot, files := range s.slots {
		errs = append(errs, closeOwn(s.entries, files))
		delete(s.slots, slot)
	}
	for _, e := range s.entries {
		if e.file == nil {
			continue
		}
		errs = append(errs, e.file.Close())
		if e.spec.Kind == Unix && e.ino != 0 {
			var st unix.Stat_t
			if unix.Lstat(e.spec.Path, &st) == nil && st.Dev == e.dev && st.Ino == e.ino {
				errs = append(errs, os.Remove(e.spec.Path))
			}
		}
	}
	return errors.Join(errs...)
}

// Env is what a worker needs besides its fds: LISTEN_FDS and
// LISTEN_FDNAMES. LISTEN_PID is left to the exec shim, because only the
// worker itself knows its pid. With no sockets it returns nil: systemd never
// sets LISTEN_FDS=0.
func (s *Set) Env() []string {
	if len(s.entries) == 0 {
		return nil
	}
	return []string{
		"LISTEN_FDS=" + strconv.Itoa(len(s.entries)),
		"LISTEN_FDNAMES=" + strings.Join(s.Names(), ":"),
	}
}

// WithoutListenEnv returns env without LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES: drover consumed its own, and a worker that saw them would
// take drover's sockets for its own. The input is not modified.
func WithoutListenEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}
