package config

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Each type here is one of drover's value forms, decoded by envconfig
// through its Decode method. Decode gets the value exactly as typed: it
// trims blanks itself, and its error is the detail in parentheses at the
// end of drover's one-line message ("" for none: what is accepted says it
// all).

// errQuiet is the error of a value that is simply not of the form.
var errQuiet = errors.New("")

// Auto is DROVER_WORKERS=auto: size the pool from the CPU budget.
const Auto Workers = 0

// Workers is DROVER_WORKERS: auto (0) or a count.
type Workers int

func (w *Workers) Decode(s string) error {
	if strings.TrimSpace(s) == "auto" {
		*w = Auto
		return nil
	}
	n, err := wholeNumber(s, 1, MaxWorkers)
	*w = Workers(n)
	return err
}

func (Workers) Accepted() string {
	return fmt.Sprintf("auto, or a whole number from 1 to %d", MaxWorkers)
}

// WorkersMin is DROVER_WORKERS_MIN.
type WorkersMin int

func (w *WorkersMin) Decode(s string) error {
	n, err := wholeNumber(s, 1, MaxWorkers)
	*w = WorkersMin(n)
	return err
}

func (WorkersMin) Accepted() string { return fmt.Sprintf("a whole number from 1 to %d", MaxWorkers) }

// WorkersMax is DROVER_WORKERS_MAX; 0 means no maximum.
type WorkersMax int

func (w *WorkersMax) Decode(s string) error {
	n, err := wholeNumber(s, 0, MaxWorkers)
	*w = WorkersMax(n)
	return err
}

func (WorkersMax) Accepted() string {
	return fmt.Sprintf("a whole number from 0 to %d (0 = no max)", MaxWorkers)
}

// Count is a whole number >= 0.
type Count int

func (c *Count) Decode(s string) error {
	n, err := wholeNumber(s, 0, -1)
	*c = Count(n)
	return err
}

// Millicores is any whole number of millicores; <= 0 means unset.
type Millicores int64

func (m *Millicores) Decode(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	*m = Millicores(n)
	return numError(err)
}

// wholeNumber reads a whole number from lo to hi (hi < 0: no maximum).
func wholeNumber(s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case err != nil:
		return 0, numError(err)
	case n < lo && lo == 0:
		return 0, errors.New("negative")
	case n < lo && lo == 1:
		return 0, errors.New("must be more than 0")
	case n < lo:
		return 0, fmt.Errorf("below the minimum %d", lo)
	case hi >= 0 && n > hi:
		return 0, fmt.Errorf("above the maximum %d", hi)
	}
	return n, nil
}

func numError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, strconv.ErrRange):
		return errors.New("out of range")
	}
	return errQuiet
}

// PerCPU is DROVER_WORKERS_PER_CPU: an exact positive decimal ("1", "2",
// "1.5"). big.Rat.SetString alone would also take "3/2", "1e3" and "-1",
// which are not what the variable documents.
type PerCPU struct{ *big.Rat }

func (p *PerCPU) Decode(s string) error {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 || strings.Count(s, ".") > 1 || s[0] == '.' || s[len(s)-1] == '.' ||
		strings.Trim(s, "0123456789.") != "" {
		return errQuiet
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 {
		return errQuiet
	}
	if r.Cmp(big.NewRat(MaxWorkers, 1)) > 0 {
		return fmt.Errorf("above the limit of %d workers", MaxWorkers)
	}
	p.Rat = r
	return nil
}

func (PerCPU) Accepted() string {
	return fmt.Sprintf("a positive number up to %d such as 1, 2 or 1.5", MaxWorkers)
}

// Duration is a duration >= 0.
type Duration time.Duration

func (d *Duration) Decode(s string) error {
	v, err := duration(s, 0)
	*d = Duration(v)
	return err
}

// Recheck is DROVER_CPU_RECHECK: 0 (off) or at least MinRecheck.
type Recheck time.Duration

func (d *Recheck) Decode(s string) error {
	v, err := duration(s, 0)
	if err == nil && v > 0 && v < MinRecheck {
		err = errQuiet // what is accepted names the floor
	}
	*d = Recheck(v)
	return err
}

func (Recheck) Accepted() string {
	return fmt.Sprintf("0 (off) or a duration of at least %s, such as 10s", MinRecheck)
}

// Timeout is a duration > 0.
type Timeout time.Duration

func (d *Timeout) Decode(s string) error {
	v, err := duration(s, 1)
	*d = Timeout(v)
	return err
}

// minBackoff is the first restart delay, which the maximum cannot undercut.
const minBackoff = 100 * time.Millisecond

// Backoff is DROVER_BACKOFF_MAX.
type Backoff time.Duration

func (d *Backoff) Decode(s string) error {
	v, err := duration(s, minBackoff)
	*d = Backoff(v)
	return err
}

func duration(s string, lo time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		return 0, errQuiet
	case d < lo && lo == 0:
		return 0, errors.New("negative")
	case d < lo && lo == 1:
		return 0, errors.New("must be more than 0")
	case d < lo:
		return 0, fmt.Errorf("below the minimum %s", lo)
	}
	return d, nil
}

// ByteSize is a memory amount in bytes, written the Kubernetes way: 512Mi,
// 1G, 1048576.
type ByteSize int64

func (b *ByteSize) Decode(s string) error {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"", 1},
	}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n <= 0 || n > (1<<62)/u.mult {
			break
		}
		*b = ByteSize(n * u.mult)
		return nil
	}
	return errors.New("not a positive size")
}

// OOMScoreAdj is DROVER_WORKER_OOM_SCORE_ADJ: auto (Score nil), off, or
// the score every worker gets. Whether a score is allowed is known only
// once drover knows its own (Typed is the value for that message).
type OOMScoreAdj struct {
	Off   bool
	Score *int
	Typed string
}

func (o *OOMScoreAdj) Decode(s string) error {
	*o = OOMScoreAdj{Typed: s}
	switch strings.TrimSpace(s) {
	case "auto":
		return nil
	case "off":
		o.Off = true
		return nil
	}
	n, err := wholeNumber(s, -1000, 1000)
	if err != nil {
		return err
	}
	score := int(n)
	o.Score = &score
	return nil
}

// Bool is true or false (strconv's forms: 1, t, TRUE, …).
type Bool bool

func (b *Bool) Decode(s string) error {
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	*b = Bool(v)
	return numError(err)
}

// Text is a value used as it is, without blanks around it.
type Text string

func (t *Text) Decode(s string) error {
	*t = Text(strings.TrimSpace(s))
	return nil
}

// healthOff is the DROVER_HEALTH_ADDR word for no health server.
const healthOff = "off"

// HealthAddr is host:port, or "" for none (DROVER_HEALTH_ADDR=off).
type HealthAddr string

func (h *HealthAddr) Decode(s string) error {
	*h = HealthAddr(strings.TrimSpace(s))
	return nil
}

// HealthAddrOf is the health server address the environment names, for the
// CLI verbs that ask a running drover: "" when DROVER_HEALTH_ADDR is off.
// They need nothing else of the configuration, so it is read alone.
func HealthAddrOf() string {
	v, ok := value("DROVER_HEALTH_ADDR")
	switch v = strings.TrimSpace(v); {
	case !ok:
		return DefaultHealthAddr
	case v == healthOff:
		return ""
	}
	return v
}

// MinReady is DROVER_MIN_READY: a count of workers, or a whole percentage
// from 0% to 100% of the desired count.
type MinReady struct {
	N       int
	Percent bool
}

func (m *MinReady) Decode(s string) error {
	num, percent := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(num)
	if err != nil || strings.Trim(num, "0123456789") != "" || (percent && n > 100) {
		return errQuiet // "-0" and "+2" are typos, whatever strconv thinks
	}
	*m = MinReady{N: n, Percent: percent}
	return nil
}
