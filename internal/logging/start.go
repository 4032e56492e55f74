package logging

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// StartLine is the one line that says why drover cannot start, in the
// log format: "drover: <err>" as text, or one JSON object at level ERROR,
// escaped like every other line (a bad value is echoed as typed).
func StartLine(format string, err error) []byte {
	msg := clip(err.Error(), maxMessage)
	if format == JSON {
		var s sink
		r := slog.NewRecord(time.Now(), slog.LevelError, msg, 0)
		_ = slog.NewJSONHandler(&s, nil).Handle(context.Background(), r)
		return sanitizeJSON(s.b)
	}
	line := appendEscaped([]byte("drover: "), msg)
	line = append(line, '\n')
	if len(line) > MaxLine {
		line = cut(line)
	}
	return line
}

// StartError writes StartLine to w and waits for the write at most
// timeout (FlushTimeout when 0): drover exits 2 right after, so a stderr
// that takes nothing may lose the line but never holds the exit up.
// It says whether the line was written.
func StartError(format string, w io.Writer, err error, timeout time.Duration) bool {
	return WriteBounded(w, StartLine(format, err), timeout)
}

// WriteBounded writes p to w from a goroutine of its own and waits for it
// at most timeout (FlushTimeout when 0). When the write has not returned
// by then the goroutine stays blocked; only a process about to exit should
// leave one behind.
func WriteBounded(w io.Writer, p []byte, timeout time.Duration) bool {
	if timeout <= 0 {
		timeout = FlushTimeout
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Write(p)
		done <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err == nil
	case <-t.C:
		return false
	}
}
