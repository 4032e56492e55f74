package preinit

// The few string helpers the shim needs, written out so that the package
// imports neither strings nor strconv (see the package comment).

func cut(s string, sep byte) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func split(s string, sep byte) []string {
	var out []string
	for {
		a, b := cut(s, sep)
		out = append(out, a)
		if len(a) == len(s) {
			return out
		}
		s = b
	}
}

func join(parts []string, sep byte) string {
	var b []byte
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return string(b)
}

func utoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + utoa(uint64(-n))
	}
	return utoa(uint64(n))
}

// atou parses a decimal number no greater than max.
func atou(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (max-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func atoi(s string) (int, bool) {
	n, ok := atou(s, 1<<31-1)
	return int(n), ok
}

func atou32(s string) (uint32, bool) {
	n, ok := atou(s, 1<<32-1)
	return uint32(n), ok
}

// escape writes control characters (a newline, CR, ESC, DEL) as \xNN, so
// that a command name cannot forge or erase a log line (drover's own lines
// are escaped the same way by internal/logging, which the shim must not
// import).
func escape(s string) string {
	const hex = "0123456789abcdef"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != 0x7f {
			b = append(b, c)
			continue
		}
		b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
	}
	return string(b)
}
