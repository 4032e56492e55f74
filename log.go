package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/drover-init/drover/internal/config"
)

// newLogger writes drover's own lines to stderr: "drover: message key=value"
// in text form, so they stand apart from the workers' output on the same
// stream, or one JSON object per line.
func newLogger(format config.LogFormat, level config.LogLevel, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.Level(level)}
	if format == config.JSONLog {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(&lineHandler{w: w, mu: &sync.Mutex{}, level: opts.Level.Level()})
}

// startError reports why drover cannot start as one line in the log
// format: "drover: <err>" as text, or one JSON object at level ERROR.
// Every start-up error goes here so that DROVER_LOG_FORMAT=json holds for
// them too; format is config.StartLogFormat() before the configuration is
// loaded.
func startError(format config.LogFormat, w io.Writer, err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if format == config.JSONLog {
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
