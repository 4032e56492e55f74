package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// logged runs f with a logger of the given format and returns what
// reached the writer once the output is closed.
func logged(t *testing.T, format string, level slog.Level, f func(*slog.Logger)) string {
	t.Helper()
	var b syncBuffer
	out := New(&b, Options{Format: format, Level: level})
	f(out.Logger())
	if !out.Close(5 * time.Second) {
		t.Fatal("Close timed out on a writer that never blocks")
	}
	return b.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The text form is the one drover has always written.
func TestTextFormat(t *testing.T) {
	got := logged(t, Text, slog.LevelInfo, func(l *slog.Logger) {
		log := l.With("worker", 1)
		log.Debug("hidden")
		log.Info("started", "pid", 42, "cmd", "sh -c x", "empty", "", "d", 1500*time.Millisecond)
		log.Warn("slow")
		log.WithGroup("g").Error("failed", "err", errors.New("a=b"))
		log.Info("grouped", slog.Group("g", "a", 1, "b", "x y"), slog.Attr{})
	})
	want := "drover: started worker=1 pid=42 cmd=\"sh -c x\" empty=\"\" d=1.5s\n" +
		"drover: warning: slow worker=1\n" +
		"drover: error: failed worker=1 err=\"a=b\"\n" +
		"drover: grouped worker=1 g.a=1 g.b=\"x y\"\n"
	if got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONFormat(t *testing.T) {
	got := logged(t, JSON, slog.LevelWarn, func(l *slog.Logger) {
		l.Info("hidden")
		l.With("worker", 2).WithGroup("g").Warn("shown", "n", 1)
	})
	var rec map[string]any
	if strings.Count(got, "\n") != 1 || json.Unmarshal([]byte(got), &rec) != nil ||
		rec["msg"] != "shown" || rec["worker"] != 2.0 || rec["level"] != "WARN" {
		t.Errorf("json: %q", got)
	}
	if g, ok := rec["g"].(map[string]any); !ok || g["n"] != 1.0 {
		t.Errorf("json group: %q", got)
	}
}

// hostile holds what the cases put into drover's lines: a newline
// forging a line of its own, CR and "erase line", ESC sequences, C1
// controls (CSI as one byte), DEL, a bidi override, invalid UTF-8.
var hostile = []string{
	"/x\ndrover: error: FAKE \x1b[31mRED",
	"foo\r\x1b[2K",
	"DROVER_WO\x1b[2KRKERS",
	"a\u009b31mb\u0085c",
	"del\x7f",
	"rtl\u202eevil",
	"bad\xff\xfeutf8",
	"nul\x00bell\x07",
	"tab\there",
	"\U000e0001tag",
}

// safeLine fails on anything in one output line that is not printable
// text: a control byte (other than the final newline), DEL, invalid UTF-8,
// a C1 control or another non-printable rune.
func safeLine(t *testing.T, line string) {
	t.Helper()
	body, ok := strings.CutSuffix(line, "\n")
	if !ok || strings.Contains(body, "\n") {
		t.Errorf("not one line: %q", line)
	}
	if !utf8.ValidString(body) {
		t.Errorf("invalid UTF-8 reached the log: %q", line)
	}
	for _, r := range body {
		if !unicode.IsPrint(r) {
			t.Errorf("rune %U reached the log raw: %q", r, line)
		}
	}
}

func TestEscapeEverywhereText(t *testing.T) {
	for _, s := range hostile {
		got := logged(t, Text, slog.LevelInfo, func(l *slog.Logger) {
			l.With(s, s).Warn("ignoring DROVER_CPU_FILE "+s, "path", s, s, 1, "err", errors.New(s))
		})
		safeLine(t, got)
		if !strings.HasPrefix(got, "drover: warning: ignoring DROVER_CPU_FILE ") {
			t.Errorf("%q: %q", s, got)
		}
		// Quoted values read back as they were (valid UTF-8 only: Go's
		// quoting writes a bad byte as \xff, which unquotes to that byte).
		for _, q := range regexp.MustCompile(`path=("(?:[^"\\]|\\.)*")`).FindAllStringSubmatch(got, -1) {
			if u, err := strconv.Unquote(q[1]); err != nil || (utf8.ValidString(s) && u != s) {
				t.Errorf("%q: path=%s unquotes to %q, %v", s, q[1], u, err)
			}
		}
	}
}

func TestEscapeEverywhereJSON(t *testing.T) {
	for _, s := range hostile {
		got := logged(t, JSON, slog.LevelInfo, func(l *slog.Logger) {
			l.With("k", s).Warn("ignoring "+s, "path", s, s, 1, "err", errors.New(s))
		})
		safeLine(t, got)
		var rec map[string]any
		if err := json.Unmarshal([]byte(got), &rec); err != nil {
			t.Fatalf("%q: not JSON: %v: %q", s, err, got)
		}
		if utf8.ValidString(s) && (rec["path"] != s || rec["msg"] != "ignoring "+s || rec["k"] != s || rec["err"] != s) {
			t.Errorf("%q: JSON does not read back as the input: %v", s, rec)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, é ü 日本": "plain text, é ü 日本",
		"a\nb\rc\td":         `a\nb\rc\td`,
		"\x1b[2K\x00\x7f":    `\x1b[2K\x00\x7f`,
		"\u009b\u202e":       `\u009b\u202e`,
		"\xff\xc3":           `\xff\xc3`,
		"\U000e0001":         `\U000e0001`,
		`back\slash`:         `back\slash`,
	} {
		if got := string(appendEscaped(nil, in)); got != want {
			t.Errorf("appendEscaped(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValueQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "1.5s": "1.5s", "/a/b": "/a/b", "é": "é",
		"": `""`, "a b": `"a b"`, "a=b": `"a=b"`, `a"b`: `"a\"b"`, `a\b`: `"a\\b"`,
		"a\x1bb": `"a\x1bb"`, "\u00a0": `"\u00a0"`, "\xff": `"\xff"`,
	} {
		if got := string(appendValue(nil, in)); got != want {
			t.Errorf("appendValue(%q) = %s, want %s", in, got, want)
		}
	}
}

// A message or value as long as the environment allows is cut, and a text
// line never exceeds PIPE_BUF; JSON stays valid.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("é", 100_000)
	got := logged(t, Text, slog.LevelInfo, func(l *slog.Logger) {
		l.Info(long, "a", long, "b", long, "c", long, "d", long)
	})
	if len(got) > MaxLine || !strings.HasSuffix(got, "... (line cut)\n") {
		t.Errorf("text line of %d bytes ending %q", len(got), got[max(0, len(got)-20):])
	}
	safeLine(t, got)
	got = logged(t, JSON, slog.LevelInfo, func(l *slog.Logger) { l.Info(long, "a", long) })
	var rec map[string]any
	if err := json.Unmarshal([]byte(got), &rec); err != nil || len(got) > 4*MaxLine {
		t.Errorf("JSON line of %d bytes: %v", len(got), err)
	}
	if line := StartLine(Text, errors.New(long)); len(line) > MaxLine {
		t.Errorf("start line of %d bytes", len(line))
	}
}

// blockingWriter blocks every Write until released, like a pipe nobody
// reads.
type blockingWriter struct {
	release chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	b       bytes.Buffer
	once    sync.Once
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *blockingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Logging never waits for stderr: with the writer stuck, 10,000 lines
// take no time, the overflow is counted, and once stderr takes lines
// again one line says how many were lost, where they were lost.
func TestStuckWriterNeverBlocksLogging(t *testing.T) {
	w := newBlockingWriter()
	out := New(w, Options{QueueLines: 8})
	log := out.Logger()
	log.Info("first")
	<-w.entered // the writer is now stuck in Write with "first"
	start := time.Now()
	const n = 10_000
	for i := range n {
		log.Info("line", "i", i)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d lines took %s with stderr stuck", n, d)
	}
	dropped := out.Dropped()
	if dropped != n-8 {
		t.Errorf("Dropped() = %d, want %d (all but the 8 queued)", dropped, n-8)
	}
	log.Info("after") // queued behind the loss? no: the queue is full, dropped too
	close(w.release)
	if !out.Close(5 * time.Second) {
		t.Fatal("Close timed out after stderr drained")
	}
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	want := []string{"drover: first"}
	for i := range 8 {
		want = append(want, "drover: line i="+strconv.Itoa(i))
	}
	want = append(want, "drover: warning: log lines dropped: stderr did not take them in time dropped="+strconv.Itoa(n-8+1))
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("written:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// The summary comes before the first line logged after the loss.
func TestDropSummaryInPlace(t *testing.T) {
	w := newBlockingWriter()
	out := New(w, Options{QueueLines: 2})
	log := out.Logger()
	log.Info("a")
	<-w.entered
	log.Info("b")
	log.Info("c")
	log.Info("lost1")
	log.Info("lost2")
	close(w.release)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(w.String(), "dropped=2") {
		if time.Now().After(deadline) {
			t.Fatalf("no summary: %q", w.String())
		}
		time.Sleep(time.Millisecond) // the writer has no event to wait on from here
	}
	log.Info("d")
	out.Close(5 * time.Second)
	want := "drover: a\ndrover: b\ndrover: c\ndrover: warning: log lines dropped: stderr did not take them in time dropped=2\ndrover: d\n"
	if w.String() != want {
		t.Errorf("written:\n%s\nwant:\n%s", w.String(), want)
	}
}

// The byte bound holds too: a few huge lines cannot make PID 1 hold MiBs.
func TestQueueBytesBound(t *testing.T) {
	w := newBlockingWriter()
	out := New(w, Options{QueueBytes: 10_000})
	log := out.Logger()
	log.Info("first")
	<-w.entered
	big := strings.Repeat("x", 1000)
	for range 100 {
		log.Info(big)
	}
	if q := out.queued.Load(); q > 10_000 {
		t.Errorf("%d bytes queued, bound 10000", q)
	}
	if d := out.Dropped(); d < 90 {
		t.Errorf("Dropped() = %d, want about 91", d)
	}
	close(w.release)
	out.Close(5 * time.Second)
}

// Close is bounded when stderr never drains.
func TestCloseBounded(t *testing.T) {
	w := newBlockingWriter()
	defer close(w.release)
	out := New(w, Options{})
	out.Logger().Info("stuck")
	<-w.entered
	start := time.Now()
	if out.Close(100 * time.Millisecond) {
		t.Error("Close says everything was written while the writer is stuck")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s", d)
	}
	out.Logger().Info("after close") // dropped, never blocks or panics
}

// errWriter fails every write, as a closed stderr does.
type errWriter struct {
	mu    sync.Mutex
	calls int
}

func (e *errWriter) Write([]byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	return 0, syscall.EPIPE
}

// A broken stderr costs one write per line (and one per summary), never a
// loop of retries.
func TestFailingWriterCountsAndDoesNotSpin(t *testing.T) {
	w := &errWriter{}
	out := New(w, Options{})
	for range 3 {
		out.Logger().Info("x")
	}
	out.Close(5 * time.Second)
	time.Sleep(50 * time.Millisecond) // a spinning writer would show here
	w.mu.Lock()
	calls := w.calls
	w.mu.Unlock()
	if out.Dropped() != 3 || calls > 6 {
		t.Errorf("Dropped() = %d, %d writes; want 3 and at most 6", out.Dropped(), calls)
	}
}

// The real thing: stderr is a pipe nobody reads. Logging returns at once,
// lines are dropped and counted, and reading the pipe brings the summary.
func TestPipeNobodyReads(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	out := New(w, Options{})
	start := time.Now()
	const n = 50_000
	for i := range n {
		out.Logger().Info("filling the pipe", "i", i)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d lines into a full pipe took %s", n, d)
	}
	if out.Dropped() == 0 {
		t.Fatal("nothing dropped: the pipe holds 50,000 lines?")
	}
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	if !out.Close(10 * time.Second) {
		t.Fatal("Close timed out with the pipe being read")
	}
	w.Close()
	text := <-got
	// One summary per stretch of losses, each where it happened; together
	// they account for every line.
	m := regexp.MustCompile(`(?m)^drover: warning: log lines dropped: stderr did not take them in time dropped=(\d+)$`).FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		t.Fatal("no summary line")
	}
	sum := 0
	for _, s := range m {
		d, _ := strconv.Atoi(s[1])
		sum += d
	}
	shown := strings.Count(text, "filling the pipe")
	if uint64(sum) != out.Dropped() || shown+sum != n {
		t.Errorf("summaries say %d dropped, Dropped() %d, %d written; want the sum %d", sum, out.Dropped(), shown, n)
	}
}

func TestStartError(t *testing.T) {
	var b bytes.Buffer
	if !StartError(Text, &b, errors.New("DROVER_WO\x1b[2KRKERS=\"1\": no such variable\nsecond"), 0) {
		t.Fatal("StartError failed on a buffer")
	}
	if want := "drover: DROVER_WO\\x1b[2KRKERS=\"1\": no such variable\\nsecond\n"; b.String() != want {
		t.Errorf("text: %q, want %q", b.String(), want)
	}
	b.Reset()
	StartError(JSON, &b, errors.New("bad \u009b value"), 0)
	var rec map[string]any
	if json.Unmarshal(b.Bytes(), &rec) != nil || rec["level"] != "ERROR" || rec["msg"] != "bad \u009b value" {
		t.Errorf("json: %q", b.String())
	}
	safeLine(t, b.String())

	w := newBlockingWriter()
	defer close(w.release)
	start := time.Now()
	if StartError(Text, w, errors.New("x"), 50*time.Millisecond) {
		t.Error("StartError says it wrote to a stuck writer")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("StartError on a stuck stderr took %s", d)
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, msg, val string) {
		for _, format := range []string{Text, JSON} {
			line := logged(t, format, slog.LevelInfo, func(l *slog.Logger) { l.Error(msg, "v", val, val, val) })
			safeLine(t, line)
			if format == JSON && !json.Valid([]byte(line)) {
				t.Errorf("invalid JSON %q", line)
			}
		}
		safeLine(t, string(StartLine(Text, errors.New(msg))))
		safeLine(t, string(StartLine(JSON, errors.New(msg))))
	})
}
