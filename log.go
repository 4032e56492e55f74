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
func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(&lineHandler{w: w, mu: &sync.Mutex{}, level: opts.Level.Level()})
}

// startLogFormat is DROVER_LOG_FORMAT as far as it can be read without a
// valid configuration: json only if it says exactly that.
func startLogFormat(environ []string) string {
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == "DROVER_LOG_FORMAT" && strings.TrimSpace(v) != "" {
			if strings.TrimSpace(v) == "json" {
				return "json"
			}
			return "text"
		}
	}
	return "text"
}

// startError reports why drover cannot start as one line in the log
// format: "drover: <err>" as text, or one JSON object at level ERROR.
// Every start-up error goes here so that DROVER_LOG_FORMAT=json holds for
// them too; format is Settings.LogFormat, or startLogFormat(environ)
// before the configuration is loaded.
func startError(format string, w io.Writer, err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if format == "json" {
		slog.New(slog.NewJSONHandler(w, nil)).Error(msg)
	} else {
		io.WriteString(w, "drover: "+msg+"\n")
	}
}

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
