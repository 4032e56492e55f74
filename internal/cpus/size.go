package cpus

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Rounding turns a fractional worker count into a whole one. Its values
// are the words of DROVER_CPU_ROUNDING; the zero value is Ceil, drover's
// default.
type Rounding string

const (
	// Ceil rounds up, except that a remainder of at most 1/10 is dropped:
	// 4.1 CPUs are four busy workers, not five half-idle ones.
	Ceil Rounding = "ceil"
	// Floor never starts more workers than whole CPUs.
	Floor Rounding = "floor"
	// Nearest rounds half up (2.5 → 3).
	Nearest Rounding = "nearest"
)

func (r Rounding) String() string {
	if r == "" {
		return string(Ceil)
	}
	return string(r)
}

// Sizing is the pool configuration that turns a budget into a worker count.
type Sizing struct {
	PerCPU       *big.Rat // workers per CPU; nil means 1
	Min, Max     int      // clamp; Max 0 means no maximum
	Rounding     Rounding
	WorkerMemory int64 // bytes per worker; 0 means no memory cap
	// Limit is what the container can hold (WorkerLimit); nil means none.
	Limit *Limit
}

// Decision is the worker count and the explanation drover logs at start:
// "drover: " + String().
type Decision struct {
	Workers int
	// Reason is the text after "N workers: ", e.g. "cpu budget 1.5 (cgroup
	// v1 quota 150000/100000 at /sys/fs/cgroup/cpu), rounding ceil".
	Reason string
}

func (d Decision) String() string {
	return fmt.Sprintf("%d %s: %s", d.Workers, plural(d.Workers, "worker", "workers"), d.Reason)
}

// maxWorkers keeps absurd inputs (a per-CPU factor of 1e30) from
// overflowing int; no pool is anywhere near this size.
const maxWorkers = math.MaxInt32

// Size computes W = clamp(round(budget × PerCPU), Min, Max), never below 1,
// then caps it at memLimit / WorkerMemory when both are known, because
// workers that do not fit in memory get OOM-killed whatever the CPU says.
func Size(b Budget, s Sizing, memLimit int64, memOK bool) Decision {
	var reason strings.Builder
	w := 1
	if b.Cores == nil || b.Cores.Sign() <= 0 {
		reason.WriteString("cpu budget unknown")
	} else {
		per := s.PerCPU
		if per == nil || per.Sign() <= 0 {
			per = big.NewRat(1, 1)
		}
		x := new(big.Rat).Mul(b.Cores, per)
		fmt.Fprintf(&reason, "cpu budget %s (%s)", FormatCores(b.Cores), b.Source)
		if per.Cmp(big.NewRat(1, 1)) != 0 {
			fmt.Fprintf(&reason, ", %s workers per cpu = %s", FormatCores(per), FormatCores(x))
		}
		fmt.Fprintf(&reason, ", rounding %s", s.Rounding)
		w = round(x, s.Rounding)
		if w < 1 {
			w = 1
			reason.WriteString(", raised to 1")
		}
	}
	if w < s.Min {
		w = min(s.Min, maxWorkers)
		fmt.Fprintf(&reason, ", raised to min %d", w)
	}
	if s.Max > 0 && w > s.Max {
		w = s.Max
		fmt.Fprintf(&reason, ", capped at max %d", w)
	}
	if memOK && s.WorkerMemory > 0 && memLimit >= 0 {
		c := max(memLimit/s.WorkerMemory, 1)
		if int64(w) > c {
			w = int(c)
			fmt.Fprintf(&reason, ", capped at %d by memory %s / %s per worker",
				w, formatBytes(memLimit), formatBytes(s.WorkerMemory))
		}
	}
	if l := s.Limit; l != nil && w > max(l.Workers, 1) {
		w = max(l.Workers, 1)
		fmt.Fprintf(&reason, ", capped at %d by %s", w, l.Reason)
	}
	return Decision{Workers: w, Reason: reason.String()}
}

// round applies r to a non-negative x, saturating at maxWorkers.
func round(x *big.Rat, r Rounding) int {
	q, m := new(big.Int).DivMod(x.Num(), x.Denom(), new(big.Int))
	frac := new(big.Rat).SetFrac(m, x.Denom()) // in [0, 1)
	switch r {
	case Floor:
	case Nearest:
		if frac.Cmp(big.NewRat(1, 2)) >= 0 {
			q.Add(q, big.NewInt(1))
		}
	default: // Ceil
		if frac.Cmp(big.NewRat(1, 10)) > 0 {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() || q.Int64() > maxWorkers {
		return maxWorkers
	}
	return int(q.Int64())
}

// FormatCores writes a CPU count as people write it: "1.5", "8", "0.25",
// "2.333" (at most three decimals, rounded).
func FormatCores(r *big.Rat) string {
	if r == nil {
		return "unknown"
	}
	s := r.FloatString(3)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// formatBytes writes a byte count in the unit suffixes the configuration
// accepts ("512Mi"), falling back to plain bytes when no unit divides it.
func formatBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{60, "Ei"}, {50, "Pi"}, {40, "Ti"}, {30, "Gi"}, {20, "Mi"}, {10, "Ki"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d", n)
}
