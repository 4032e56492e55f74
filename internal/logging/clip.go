package logging

import (
	"context"
	"log/slog"
	"unicode/utf8"
)

// A message or value longer than these is cut: input can be as long as
// the environment allows (128 KiB a string), and one line must fit in
// MaxLine to reach a pipe in one piece.
const (
	maxMessage = 2048
	maxValue   = 1024
)

// clip cuts s to at most max bytes on a rune boundary, marking the cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	end := max - len("...")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "..."
}

// clipAttr cuts a long string value, or the text of any other value whose
// text is long (an error, a Stringer); short values keep their kind, so
// JSON numbers stay numbers.
func clipAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString, slog.KindAny:
		if s := v.String(); len(s) > maxValue {
			return slog.String(a.Key, clip(s, maxValue))
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, m := range g {
			out[i] = clipAttr(m)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// jsonHandler is slog's JSON handler with long messages and values cut
// before they are encoded (cutting the encoded line would break the JSON).
type jsonHandler struct{ h slog.Handler }

func (j jsonHandler) Enabled(ctx context.Context, l slog.Level) bool { return j.h.Enabled(ctx, l) }

func (j jsonHandler) Handle(ctx context.Context, r slog.Record) error {
	c := slog.NewRecord(r.Time, r.Level, clip(r.Message, maxMessage), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		c.AddAttrs(clipAttr(a))
		return true
	})
	return j.h.Handle(ctx, c)
}

func (j jsonHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = clipAttr(a)
	}
	return jsonHandler{j.h.WithAttrs(out)}
}

func (j jsonHandler) WithGroup(name string) slog.Handler { return jsonHandler{j.h.WithGroup(name)} }
