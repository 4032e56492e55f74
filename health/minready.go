package health

import (
	"fmt"
	"strconv"
	"strings"
)

// MinReady is DROVER_MIN_READY: how many workers must be ready for /readyz
// to pass, as a count or a percentage of the desired workers. It stays
// unresolved until Of because the desired count changes (TTIN/TTOU, auto).
// The zero value means 0 workers.
type MinReady struct {
	n       int
	percent bool
}

// ParseMinReady reads DROVER_MIN_READY: a whole number of workers ("2",
// "0") or a whole percentage from 0% to 100% ("50%").
func ParseMinReady(s string) (MinReady, error) {
	v := strings.TrimSpace(s)
	num, percent := strings.CutSuffix(v, "%")
	n, err := strconv.Atoi(num)
	if err != nil || !allDigits(num) || (percent && n > 100) {
		return MinReady{}, fmt.Errorf("DROVER_MIN_READY=%q: want a whole number of workers (2) or a percentage from 0%% to 100%% (50%%)", s)
	}
	return MinReady{n: n, percent: percent}, nil
}

// Of resolves m against the desired worker count. Percentages round up so
// that 50% of 3 needs 2 ready and 50% of 1 needs 1 (a single worker pool is
// never ready with nothing running); counts are capped at desired so that
// scaling down below DROVER_MIN_READY cannot make readiness impossible.
func (m MinReady) Of(desired int) int {
	if desired <= 0 {
		return 0
	}
	if m.percent {
		return (desired*m.n + 99) / 100
	}
	return min(m.n, desired)
}

// String gives back the setting as the user wrote it, for logs and --help.
func (m MinReady) String() string {
	if m.percent {
		return strconv.Itoa(m.n) + "%"
	}
	return strconv.Itoa(m.n)
}

// UnmarshalText lets envconfig decode DROVER_MIN_READY into a MinReady.
func (m *MinReady) UnmarshalText(b []byte) error {
	v, err := ParseMinReady(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText mirrors UnmarshalText.
func (m MinReady) MarshalText() ([]byte, error) {
	return []byte(m.String()), nil
}

// allDigits rejects the signs strconv accepts: "-0" and "+2" are typos.
func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
