package cpus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errNoLimit is not a failure: the file says "unlimited" (-1, max).
var errNoLimit = errors.New("no limit")

// noMemoryLimit: v1 reports "unlimited" as a huge page-rounded number
// (9223372036854771712 on 4 KiB pages) and no real container gets near 4 EiB,
// so anything from 2^62 up means no limit.
const noMemoryLimit = uint64(1) << 62

// garbageError is a value the kernel would never write. want doubles as the
// reason for warning deduplication: one line per kind of garbage, not per
// level it appears at.
type garbageError struct {
	want, got string
}

func (e *garbageError) Error() string {
	return fmt.Sprintf("want %s, got %q", e.want, clip(e.got))
}

func garbage(want, got string) error { return &garbageError{want: want, got: got} }

// parseDecimal accepts only what the kernel writes: digits, no sign, no
// spaces, no leading "+", so that garbage is never mistaken for a limit.
func parseDecimal(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, garbage("a decimal number", s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, garbage("a decimal number", s)
	}
	return v, nil
}

// parseCFSQuota parses cpu.cfs_quota_us: microseconds per period, -1 for none.
func parseCFSQuota(data string) (int64, error) {
	s := strings.TrimSpace(data)
	if s == "-1" {
		return 0, errNoLimit
	}
	q, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if q <= 0 {
		return 0, garbage("a positive quota or -1", s)
	}
	return q, nil
}

// parseCFSPeriod parses cpu.cfs_period_us; zero would divide by zero.
func parseCFSPeriod(data string) (int64, error) {
	s := strings.TrimSpace(data)
	p, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if p <= 0 {
		return 0, garbage("a positive period", s)
	}
	return p, nil
}

// parseCPUMax parses v2 cpu.max, "QUOTA PERIOD" or "max PERIOD".
func parseCPUMax(data string) (quota, period int64, err error) {
	s := strings.TrimSpace(data)
	f := strings.Fields(s)
	if len(f) == 1 && f[0] == "max" {
		return 0, 0, errNoLimit
	}
	if len(f) != 2 || strings.ContainsAny(s, "\n") {
		return 0, 0, garbage(`"QUOTA PERIOD" or "max PERIOD"`, s)
	}
	period, err = parseCFSPeriod(f[1])
	if err != nil {
		return 0, 0, err
	}
	if f[0] == "max" {
		return 0, 0, errNoLimit
	}
	quota, err = parseDecimal(f[0])
	if err != nil {
		return 0, 0, err
	}
	if quota <= 0 {
		return 0, 0, garbage("a positive quota or max", f[0])
	}
	return quota, period, nil
}

// parseMemory parses v1 memory.limit_in_bytes and v2 memory.max alike; "max"
// only occurs in v2, the huge sentinel only in v1, neither is a limit.
func parseMemory(data string) (int64, error) {
	s := strings.TrimSpace(data)
	if s == "max" {
		return 0, errNoLimit
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, garbage("a byte count or max", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errNoLimit
		}
		return 0, garbage("a byte count or max", s)
	}
	if v >= noMemoryLimit {
		return 0, errNoLimit
	}
	return int64(v), nil
}
