package logging

import (
	"context"
	"log/slog"
)

// textHandler writes "drover: message key=value": drover's lines stand
// apart from the workers' output on the same stream. Warnings and errors
// say so after the prefix; there is no timestamp, the container runtime
// adds one.
type textHandler struct {
	out   *Output
	level slog.Leveler
	attrs []byte // " k=v" from WithAttrs, already escaped
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	h.out.enqueue(formatText(r, h.attrs))
	return nil
}

// formatText is one line for r, with pre, the handler's own attributes,
// before the record's.
func formatText(r slog.Record, pre []byte) []byte {
	b := make([]byte, 0, 128)
	b = append(b, "drover: "...)
	switch {
	case r.Level >= slog.LevelError:
		b = append(b, "error: "...)
	case r.Level >= slog.LevelWarn:
		b = append(b, "warning: "...)
	}
	b = appendEscaped(b, clip(r.Message, maxMessage))
	b = append(b, pre...)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, "", a)
		return true
	})
	return append(b, '\n')
}

// appendAttr appends " key=value"; a group's members become
// " group.key=value".
func appendAttr(b []byte, prefix string, a slog.Attr) []byte {
	a = clipAttr(a)
	if a.Equal(slog.Attr{}) {
		return b // slog's rule: an empty attribute is left out
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, m := range a.Value.Group() {
			b = appendAttr(b, prefix, m)
		}
		return b
	}
	b = append(b, ' ')
	b = appendEscaped(b, prefix+a.Key)
	b = append(b, '=')
	return appendValue(b, a.Value.String())
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]byte(nil), h.attrs...)
	for _, a := range as {
		n.attrs = appendAttr(n.attrs, "", a)
	}
	return &n
}

// WithGroup is ignored: drover's lines are flat, and no caller nests.
func (h *textHandler) WithGroup(string) slog.Handler { return h }
