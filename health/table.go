package health

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints s like `pm2 ls`: one row per worker, sorted by slot
// then generation, and a summary line explaining the pool's size and
// readiness. Uptimes are relative to s.Time (the server's clock at the
// snapshot), or now when that is unset.
func WriteTable(w io.Writer, s Snapshot) error {
	now := s.Time
	if now.IsZero() {
		now = time.Now()
	}
	workers := slices.Clone(s.Workers)
	slices.SortStableFunc(workers, func(a, b Worker) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Generation, b.Generation))
	})

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPID\tSTATE\tREADY\tRESTARTS\tUPTIME\tRSS\tCPU\tLAST-EXIT\tSTATUS")
	for _, wk := range workers {
		pid, uptime := "-", "-"
		if wk.Pid > 0 {
			pid = strconv.Itoa(wk.Pid)
		}
		if !wk.Started.IsZero() {
			uptime = humanDuration(now.Sub(wk.Started))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n",
			wk.ID, pid, cell(wk.State), yesNo(wk.Ready), wk.Restarts, uptime,
			humanBytes(wk.RSS), humanCPU(wk.CPUSeconds), cell(wk.LastExit), cell(wk.Status))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the worker table: %w", err)
	}
	if _, err := fmt.Fprintln(w, summary(s, now)); err != nil {
		return fmt.Errorf("writing the worker table: %w", err)
	}
	return nil
}

func summary(s Snapshot, now time.Time) string {
	parts := []string{
		fmt.Sprintf("desired %d", s.Desired),
		fmt.Sprintf("ready %d/%d (need %d)", s.ReadyCount(), s.Desired, s.MinReady),
		"draining " + yesNo(s.Draining),
	}
	parts = append(parts, cpuSummary(s.CPU, now))
	if s.Version != "" {
		v := "drover " + s.Version
		if !s.Started.IsZero() {
			v += " up " + humanDuration(now.Sub(s.Started))
		}
		parts = append(parts, v)
	}
	return cell(strings.Join(parts, ", "))
}

// cpuSummary says where the budget comes from and why the pool has its
// size, each once: a sizing reason that starts with the budget already
// names it and its source.
func cpuSummary(c CPU, now time.Time) string {
	out := c.Reason
	if !strings.HasPrefix(c.Reason, "cpu budget") {
		out = "cpu budget " + strconv.FormatFloat(c.Cores, 'f', -1, 64)
		if c.Source != "" {
			out += " from " + c.Source
		}
		if c.Reason != "" {
			out += " (" + c.Reason + ")"
		}
	}
	if c.Changes > 0 && !c.LastChange.Time.IsZero() {
		out += fmt.Sprintf(", changed %s → %s %s ago (%d %s)",
			strconv.FormatFloat(c.LastChange.From, 'f', -1, 64), strconv.FormatFloat(c.LastChange.To, 'f', -1, 64),
			humanDuration(now.Sub(c.LastChange.Time)), c.Changes, plural(c.Changes, "change", "changes"))
	}
	return out
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// cell keeps user text (STATUS= is whatever the app sent) from breaking the
// table: control characters would split rows or columns.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// humanBytes uses binary units, as Kubernetes memory limits do (512Mi).
func humanBytes(n int64) string {
	if n <= 0 {
		return "-"
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	for v >= 1024 && unit < len(units)-1 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %s", v, units[unit])
}

// humanDuration keeps the two largest units: "45s", "3m12s", "5h3m", "2d4h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := int64(d / time.Second)
	switch {
	case sec < 60:
		return fmt.Sprintf("%ds", sec)
	case sec < 3600:
		return fmt.Sprintf("%dm%ds", sec/60, sec%60)
	case sec < 86400:
		return fmt.Sprintf("%dh%dm", sec/3600, sec%3600/60)
	default:
		return fmt.Sprintf("%dd%dh", sec/86400, sec%86400/3600)
	}
}

func humanCPU(sec float64) string {
	if sec < 60 {
		return strconv.FormatFloat(sec, 'f', 2, 64) + "s"
	}
	return humanDuration(time.Duration(sec * float64(time.Second)))
}
