package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/drover-init/drover/internal/sockwait"
	"github.com/drover-init/drover/listener"
	"github.com/drover-init/drover/spawn"
)

// probe adapts internal/sockwait to the pool's Probe (DROVER_READY=
// listening): a slot's worker listens when its tree waits on one of the
// slot's sockets. It learns each slot's sockets when the pool asks for them
// to start a worker, so a probe never opens a slot's sockets itself (with
// DROVER_REUSEPORT that would bring back a removed slot's socket, with
// nobody accepting on it).
type probe struct {
	c   *sockwait.Checker // nil: no sockets, or no /proc
	set *listener.Set
	mu  sync.Mutex
	ids map[int][]sockwait.Socket
}

func newProbe(set *listener.Set, log *slog.Logger) *probe {
	pr := &probe{set: set, ids: map[int][]sockwait.Socket{}}
	if len(set.Addrs()) == 0 {
		return pr
	}
	c, err := sockwait.New("/proc")
	if err != nil {
		log.Warn("cannot see whether workers listen; DROVER_READY=listening counts them ready once started", "err", err)
		return pr
	}
	pr.c = c
	return pr
}

// orNil is the pool's Probe, nil (not a nil *probe) without one.
func (p *probe) orNil() spawn.Probe {
	if p.c == nil {
		return nil
	}
	return p
}

// files hands a slot's sockets to the pool and notes their identities.
func (p *probe) files(slot int) ([]*os.File, error) {
	files, err := p.set.Files(slot)
	if err != nil || p.c == nil {
		return files, err
	}
	ids := make([]sockwait.Socket, 0, len(files))
	for _, f := range files {
		if s, err := sockwait.Of(f); err == nil {
			ids = append(ids, s)
		}
	}
	p.mu.Lock()
	p.ids[slot] = ids
	p.mu.Unlock()
	return files, nil
}

// forget drops a removed slot's sockets.
func (p *probe) forget(slot int) {
	p.mu.Lock()
	delete(p.ids, slot)
	p.mu.Unlock()
}

func (p *probe) socks(slot int) []sockwait.Socket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids[slot]
}

func (p *probe) Listening(pid, slot int) (spawn.Listen, error) {
	r, err := p.c.Check(pid, p.socks(slot))
	return spawn.Listen{Listening: r.Listening, Pid: r.Pid, How: string(r.How), Shell: r.Shell}, err
}

func (p *probe) Explain(pid, slot int) []string { return p.c.Explain(pid, p.socks(slot)) }

// Sockets names what a worker should listen on, for the line that says
// what drover waited for: "tcp://[::]:8080 (fd 3)".
func (p *probe) Sockets(int) string {
	var b strings.Builder
	for i, a := range p.set.Addrs() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (fd %d)", sockURL(a), 3+i)
	}
	return b.String()
}
