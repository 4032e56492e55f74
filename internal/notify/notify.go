package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxSize is the largest sd_notify datagram accepted; larger ones are
// dropped whole, never acted on half-read. systemd's own limit is 4096.
const MaxSize = 8192

// maxFDs is the kernel's per-message SCM_RIGHTS limit (SCM_MAX_FD),
// so that every passed fd lands in our buffer and gets closed by us.
const maxFDs = 253

// Message is one sd_notify datagram.
type Message struct {
	Pid int // sender's pid (kernel-verified), as seen in drover's pid namespace
	UID int // sender's uid
	// Fields are the KEY=VALUE lines. Unknown keys are kept; a repeated key
	// keeps its first value, as systemd does.
	Fields map[string]string
	// FDs counts file descriptors sent along (FDSTORE=1). drover does not
	// keep them: they are already closed when the Message is delivered.
	FDs int
}

// Socket is the NOTIFY_SOCKET receiver through which workers report
// READY=1, STATUS=… and WATCHDOG=1.
type Socket struct {
	conn *net.UnixConn
	path string
	now  func() time.Time // the clock of the drop warnings

	closeOnce sync.Once
	closeErr  error
}

// Listen creates the socket at path, or an abstract socket when path
// starts with "@" (nothing on disk to clean up, but only reachable from
// drover's network namespace). A leftover socket file from an earlier run
// is replaced; any other file there is an error, never deleted. The file is
// made world-writable so that workers running as DROVER_USER can send.
func Listen(path string) (*Socket, error) {
	if path == "" || path == "@" {
		return nil, errors.New("notify socket: empty path")
	}
	abstract := strings.HasPrefix(path, "@")
	if !abstract {
		if err := removeStaleSocket(path); err != nil {
			return nil, err
		}
	}
	// SO_PASSCRED goes on before bind, so no datagram can ever arrive
	// without the sender's credentials.
	lc := net.ListenConfig{Control: setPassCred}
	pc, err := lc.ListenPacket(context.Background(), "unixgram", path)
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	n := &Socket{conn: pc.(*net.UnixConn), path: path, now: time.Now}
	if !abstract {
		// chmod after bind: bind applies the umask, and workers may not share our uid.
		if err := os.Chmod(path, 0o666); err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("notify socket %s: %w", path, err)
		}
	}
	return n, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("notify socket %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("notify socket %s: a %s is in the way and is not a socket; remove it or choose another path", path, fi.Mode().Type())
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("notify socket %s: removing stale socket: %w", path, err)
	}
	return nil
}

// setPassCred makes the kernel attach the sender's credentials to every
// datagram: a pid written inside the message (MAINPID=) could be forged,
// the SCM_CREDENTIALS one cannot.
func setPassCred(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_PASSCRED: %w", serr)
	}
	return nil
}

// Path is the value for workers' NOTIFY_SOCKET ("@name" for abstract).
func (n *Socket) Path() string { return n.path }

// Run receives datagrams and hands each to deliver, in order, on Run's
// goroutine, until ctx ends or Close is called; both return nil. Run is not
// meant to be called concurrently with itself. warn (may
// be nil) hears about datagrams that were dropped: too large, or without
// credentials, at most once per sender every WarnEvery and MaxWarnings
// times in all per WarnEvery; the next warning, or the last at the end of
// Run, says how many were not reported. Any other receive error ends Run
// and is returned.
func (n *Socket) Run(ctx context.Context, deliver func(Message), warn func(error)) error {
	if warn == nil {
		warn = func(error) {}
	}
	drops := newDropLog()
	defer func() {
		if drops.hidden > 0 {
			warn(fmt.Errorf("notify socket %s: %d more dropped messages were not logged", n.path, drops.hidden))
		}
	}()
	// A past deadline wakes a blocked read without closing the socket, so the
	// owner decides when the file goes away.
	_ = n.conn.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = n.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	buf := make([]byte, MaxSize)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(maxFDs*4))
	for {
		nb, noob, flags, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("notify socket %s: %w", n.path, err)
		}
		msg, err := parse(buf[:nb], oob[:noob], flags)
		if err != nil {
			if show, hidden := drops.report(msg.Pid, n.now()); show {
				if hidden > 0 {
					err = fmt.Errorf("%w; %d more dropped messages were not logged", err, hidden)
				}
				warn(fmt.Errorf("notify socket %s: %w", n.path, err))
			}
			continue
		}
		deliver(msg)
	}
}

// Close closes the socket and removes its file; Run then returns.
func (n *Socket) Close() error {
	n.closeOnce.Do(func() {
		n.closeErr = n.conn.Close()
		if !strings.HasPrefix(n.path, "@") {
			if err := os.Remove(n.path); err != nil && !errors.Is(err, fs.ErrNotExist) && n.closeErr == nil {
				n.closeErr = err
			}
		}
	})
	return n.closeErr
}

// parse closes every passed fd first, whatever else is wrong with the
// datagram: an fd store drover does not implement must not become an fd leak.
func parse(data, oob []byte, flags int) (Message, error) {
	var msg Message
	haveCreds := false
	cmsgs, cerr := unix.ParseSocketControlMessage(oob)
	for i := range cmsgs {
		m := &cmsgs[i]
		if m.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case unix.SCM_RIGHTS:
			fds, err := unix.ParseUnixRights(m)
			if err == nil {
				for _, fd := range fds {
					_ = unix.Close(fd)
				}
				msg.FDs += len(fds)
			}
		case unix.SCM_CREDENTIALS:
			if cred, err := unix.ParseUnixCredentials(m); err == nil {
				msg.Pid, msg.UID, haveCreds = int(cred.Pid), int(cred.Uid), true
			}
		}
	}
	// A dropped message keeps its sender's pid, for the rate of warnings.
	switch {
	case cerr != nil:
		return Message{Pid: msg.Pid}, fmt.Errorf("dropped a message with unreadable control data: %w", cerr)
	case flags&unix.MSG_TRUNC != 0:
		return Message{Pid: msg.Pid}, fmt.Errorf("dropped a message from pid %d larger than %d bytes", msg.Pid, MaxSize)
	case !haveCreds:
		return Message{}, errors.New("dropped a message without sender credentials")
	}
	msg.Fields = parseFields(string(data))
	return msg, nil
}

// WarnEvery and MaxWarnings bound the warnings about dropped messages: a
// worker sending oversized datagrams in a loop (1,201 of them in one trial)
// or a thousand workers sending one each must not flood drover's log.
const (
	WarnEvery   = 10 * time.Second
	MaxWarnings = 10
)

// dropLog decides which dropped messages are reported.
type dropLog struct {
	shown  map[int]time.Time // sender pid -> its last warning
	window time.Time         // start of the current WarnEvery
	count  int               // warnings in the window
	hidden int               // drops not reported since the last warning
}

func newDropLog() *dropLog { return &dropLog{shown: map[int]time.Time{}} }

// report says whether a message dropped from pid now is reported, and how
// many drops went unreported before it.
func (d *dropLog) report(pid int, now time.Time) (show bool, hidden int) {
	if now.Sub(d.window) >= WarnEvery {
		d.window, d.count = now, 0
		for p, at := range d.shown { // at most MaxWarnings entries per window
			if now.Sub(at) >= WarnEvery {
				delete(d.shown, p)
			}
		}
	}
	if at, ok := d.shown[pid]; (ok && now.Sub(at) < WarnEvery) || d.count >= MaxWarnings {
		d.hidden++
		return false, 0
	}
	d.shown[pid], d.count = now, d.count+1
	hidden, d.hidden = d.hidden, 0
	return true, hidden
}

func parseFields(s string) map[string]string {
	fields := make(map[string]string)
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue // empty line or not KEY=VALUE: systemd ignores these too
		}
		if _, dup := fields[k]; !dup {
			fields[k] = v
		}
	}
	return fields
}
