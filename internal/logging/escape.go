package logging

import (
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// appendEscaped appends s to b with every rune a terminal or a line-based
// log reader could act on written as a Go escape: \n, \r, \t, \x1b,
// \u0085, \u202e, and \xff for a byte that is not UTF-8. Printable text,
// spaces included, is kept as it is, so a message stays readable.
// Backslashes are not doubled: the point is that nothing raw gets through,
// and messages quote the values they embed where it matters.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = appendHex(b, `\x`, uint32(c), 2)
		case unicode.IsPrint(r):
			b = append(b, s[i:i+n]...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < utf8.RuneSelf:
			b = appendHex(b, `\x`, uint32(r), 2)
		case r <= 0xffff:
			b = appendHex(b, `\u`, uint32(r), 4)
		default:
			b = appendHex(b, `\U`, uint32(r), 8)
		}
		i += n
	}
	return b
}

func appendHex(b []byte, prefix string, v uint32, digits int) []byte {
	const hex = "0123456789abcdef"
	b = append(b, prefix...)
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		b = append(b, hex[(v>>uint(shift))&0xf])
	}
	return b
}

// appendValue appends an attribute value: as it is when that is one
// unambiguous word, else double-quoted with strconv's escapes (which cover
// every rune appendEscaped escapes, and the quote and backslash themselves).
func appendValue(b []byte, s string) []byte {
	if s == "" || !plainWord(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// plainWord: no space, quote, '=', backslash, and nothing to escape.
func plainWord(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ', c == '"', c == '=', c == '\\':
			return false
		case c >= 0x20 && c < 0x7f:
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !unicode.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// sanitizeJSON makes one line of JSON from slog's JSON handler safe for a
// terminal: slog escapes C0 controls, quotes and backslashes, and replaces
// invalid UTF-8, but writes DEL, the C1 controls (U+0080–U+009F) and other
// non-printable runes raw. Outside strings JSON is plain ASCII, so every
// rune handled here is inside a string, where \uXXXX is what it means. The
// final newline stays. The result never shares memory with line.
func sanitizeJSON(line []byte) []byte {
	out := make([]byte, 0, len(line)+16)
	for i := 0; i < len(line); {
		c := line[i]
		if c >= 0x20 && c < 0x7f || (c == '\n' && i == len(line)-1) {
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(line[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, `\ufffd`...)
		case r >= utf8.RuneSelf && unicode.IsPrint(r):
			out = append(out, line[i:i+n]...)
		case r <= 0xffff:
			out = appendHex(out, `\u`, uint32(r), 4)
		default:
			hi, lo := utf16.EncodeRune(r)
			out = appendHex(out, `\u`, uint32(hi), 4)
			out = appendHex(out, `\u`, uint32(lo), 4)
		}
		i += n
	}
	return out
}
