package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Formats of drover's own lines (DROVER_LOG_FORMAT).
const (
	Text = "text"
	JSON = "json"
)

const (
	// QueueLines and QueueBytes bound what waits for a slow stderr: a
	// burst of restarts fits (a pool of 64 crashing workers logs about
	// two lines per restart), and PID 1 never holds more than a quarter
	// of a MiB for a reader that may never come back.
	QueueLines = 1024
	QueueBytes = 256 << 10
	// MaxLine is PIPE_BUF: a write of at most this many bytes to a pipe is
	// atomic, so drover's line never interleaves with a worker's output on
	// the same pipe. A longer line is cut, saying so.
	MaxLine = 4096
	// FlushTimeout bounds the wait for the last lines at exit. A working
	// stderr takes them in microseconds; a stuck one must not hold up the
	// exit the stop timeout promised.
	FlushTimeout = 500 * time.Millisecond
)

// Options configure an Output.
type Options struct {
	Format string       // Text (default) or JSON
	Level  slog.Leveler // least severe level written; nil is Info
	// QueueLines and QueueBytes replace the defaults when > 0 (tests).
	QueueLines, QueueBytes int
}

// Output is drover's log output: handlers queue lines without waiting and
// one goroutine writes them.
type Output struct {
	w        io.Writer
	own      *os.File // w when it is a duplicate made here, closed by the writer at the end
	format   string
	q        chan entry
	wake     chan struct{}
	queued   atomic.Int64 // bytes in q
	maxBytes int64
	dropped  atomic.Uint64
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	log      *slog.Logger
	quiet    bool // the writer's thread has SIGPIPE blocked; the writer's own
}

// entry is one line and how many lines had been dropped before it was
// queued, so the writer can say where lines went missing.
type entry struct {
	line  []byte
	drops uint64
}

// New starts the writer goroutine for w. Close it to flush at exit.
func New(w io.Writer, o Options) *Output {
	lines, bytes := o.QueueLines, o.QueueBytes
	if lines <= 0 {
		lines = QueueLines
	}
	if bytes <= 0 {
		bytes = QueueBytes
	}
	w, own := ownDescriptor(w)
	out := &Output{
		w: w, own: own, format: o.Format, q: make(chan entry, lines), wake: make(chan struct{}, 1),
		maxBytes: int64(bytes), stop: make(chan struct{}), done: make(chan struct{}),
	}
	level := o.Level
	if level == nil {
		level = slog.LevelInfo
	}
	if o.Format == JSON {
		out.log = slog.New(jsonHandler{slog.NewJSONHandler(jsonSink{out}, &slog.HandlerOptions{Level: level})})
	} else {
		out.format = Text
		out.log = slog.New(&textHandler{out: out, level: level})
	}
	go out.run()
	return out
}

// ownDescriptor gives the writer a descriptor of its own for a file: a
// duplicate of os.Stderr's is not stdout or stderr to the os package, which
// raises SIGPIPE in the process itself when a write to fd 1 or 2 fails with
// EPIPE (as C programs die of it). drover subscribes to SIGPIPE and would
// forward it to every worker. The duplicate shares the open file (and its
// blocking mode, which SyscallConn leaves as it is, unlike Fd); it is
// close-on-exec. Anything that is not a file is used as it is.
func ownDescriptor(w io.Writer) (io.Writer, *os.File) {
	f, ok := w.(*os.File)
	if !ok {
		return w, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return w, nil
	}
	dup := -1
	if rc.Control(func(fd uintptr) { dup, _ = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3) }) != nil || dup < 0 {
		return w, nil
	}
	own := os.NewFile(uintptr(dup), f.Name())
	return own, own
}

// Logger is the logger whose lines go through this Output.
func (o *Output) Logger() *slog.Logger { return o.log }

// Dropped is how many lines were lost because stderr did not take them
// (the queue was full, or the write failed). It only grows.
func (o *Output) Dropped() uint64 { return o.dropped.Load() }

// Close writes what is queued and waits for it at most timeout. It says
// whether everything was written; when not, the writer is left blocked in
// write(2), which costs nothing to a process about to exit. Lines logged
// after Close are dropped.
func (o *Output) Close(timeout time.Duration) bool {
	o.stopOnce.Do(func() { close(o.stop) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-o.done:
		return true
	case <-t.C:
		return false
	}
}

// enqueue hands a finished line to the writer, or drops it. It never
// blocks: this runs on the goroutine that logged, which may be the pool's.
func (o *Output) enqueue(line []byte) {
	if len(line) > MaxLine && o.format == Text {
		line = cut(line)
	}
	n := int64(len(line))
	if o.queued.Add(n) <= o.maxBytes {
		select {
		case o.q <- entry{line: line, drops: o.dropped.Load()}:
			return
		default:
		}
	}
	o.queued.Add(-n)
	o.drop()
}

func (o *Output) drop() {
	o.dropped.Add(1)
	// The writer may have emptied the queue before this count: wake it,
	// so the line about the loss does not wait for the next log line.
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// cut shortens a text line to MaxLine bytes, on a rune boundary, ending it with
// a note and the newline.
func cut(line []byte) []byte {
	const note = "... (line cut)\n"
	end := MaxLine - len(note)
	for end > 0 && line[end]&0xc0 == 0x80 {
		end--
	}
	out := make([]byte, 0, MaxLine)
	out = append(out, line[:end]...)
	return append(out, note...)
}

// run is the writer goroutine: the only code that writes to stderr.
func (o *Output) run() {
	defer close(o.done)
	if o.own != nil {
		defer o.own.Close()
	}
	var reported uint64
	for {
		select {
		case e := <-o.q:
			reported = o.write(e, reported)
			continue
		default:
		}
		// The queue is empty: this is where a loss is reported if no
		// later line has reported it yet.
		if d := o.dropped.Load(); d > reported {
			reported = o.summary(d, reported)
			continue
		}
		select {
		case e := <-o.q:
			reported = o.write(e, reported)
		case <-o.wake:
		case <-o.stop:
			o.drain(reported)
			return
		}
	}
}

// drain writes what is left at Close, without waiting for more.
func (o *Output) drain(reported uint64) {
	for {
		select {
		case e := <-o.q:
			reported = o.write(e, reported)
		default:
			if d := o.dropped.Load(); d > reported {
				o.summary(d, reported)
			}
			return
		}
	}
}

// out writes one line; every write to w goes through it.
func (o *Output) out(line []byte) error {
	if !o.quiet {
		// At the first write, not at start: a plain init that logs
		// nothing costs no thread.
		quietPipe()
		o.quiet = true
	}
	_, err := o.w.Write(line)
	return err
}

func (o *Output) write(e entry, reported uint64) uint64 {
	o.queued.Add(-int64(len(e.line)))
	if e.drops > reported {
		reported = o.summary(e.drops, reported)
	}
	if err := o.out(e.line); err != nil {
		o.dropped.Add(1) // a closed or broken stderr: the line is lost all the same
	}
	return reported
}

// summary writes the one line saying that lines from reported up to d
// were lost, and returns the new count of reported losses.
func (o *Output) summary(d, reported uint64) uint64 {
	line := o.render(slog.LevelWarn, "log lines dropped: stderr did not take them in time", slog.Uint64("dropped", d-reported))
	// Reported even if this write fails too: a stderr that is gone for
	// good must not make the writer try again and again.
	_ = o.out(line)
	return d
}

// render formats one record outside the queue, for the writer's own lines.
func (o *Output) render(level slog.Level, msg string, attrs ...slog.Attr) []byte {
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	if o.format == JSON {
		var s sink
		_ = slog.NewJSONHandler(&s, nil).Handle(context.Background(), r)
		return sanitizeJSON(s.b)
	}
	return formatText(r, nil)
}

// jsonSink receives each record slog's JSON handler has formatted (one
// Write per record, under the handler's own lock) and queues it.
type jsonSink struct{ o *Output }

func (j jsonSink) Write(p []byte) (int, error) {
	j.o.enqueue(sanitizeJSON(p))
	return len(p), nil
}

// sink collects one formatted record.
type sink struct{ b []byte }

func (s *sink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}
