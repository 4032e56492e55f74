package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// logLevel reads DROVER_LOG_LEVEL.
func logLevel(s string) (slog.Level, bool) {
	l, ok := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	}[s]
	return l, ok
}

// newLogger writes drover's own lines to stderr: "drover: message key=value"
// in text form, so they stand apart from the workers' output on the same
// stream, or one JSON object per line.
func newLogger(format, level string, w io.Writer) *slog.Logger {
	l, _ := logLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey && a.Value.Any() == levelFatal {
				a.Value = slog.StringValue("ERROR")
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(&lineHandler{w: w, mu: &sync.Mutex{}, level: opts.Level.Level()})
}

// levelFatal is a refusal to start: "drover: message" in text, like every
// other one-line refusal (a bad variable, a missing command), and level
// ERROR in JSON.
const levelFatal = slog.LevelError + 4

type lineHandler struct {
	w     io.Writer
	mu    *sync.Mutex
	level slog.Level
	attrs string
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("drover: ")
	switch {
	case r.Level >= levelFatal:
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(formatAttr(a))
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func formatAttr(a slog.Attr) string {
	v := a.Value.Resolve().String()
	if strings.ContainsAny(v, " \t\"=") || v == "" {
		v = fmt.Sprintf("%q", v)
	}
	return " " + a.Key + "=" + v
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	for _, a := range as {
		n.attrs += formatAttr(a)
	}
	return &n
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
