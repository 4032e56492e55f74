package health

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports, whatever CONFIG_HZ is.
const clockTicks = 100

// Usage is what one worker costs, summed over its process group.
type Usage struct {
	RSS        int64   // bytes
	CPUSeconds float64 // user+sys
}

// ReadUsage sums RSS and CPU time per process group for the given pgids,
// scanning procRoot ("/proc", or a fixture tree in tests). Workers are
// process-group leaders, so a worker's pgid is its pid and everything it
// forks (a shell wrapper's real server, a pre-fork pool) is counted with
// it; counting the leader alone would report a few KiB of shell.
//
// Only groups with at least one live process appear in the result. Processes
// that exit mid-scan, or whose stat cannot be read or parsed, are skipped:
// a PID 1 scanning /proc races with every exit.
func ReadUsage(procRoot string, pgids []int) (map[int]Usage, error) {
	out := make(map[int]Usage, len(pgids))
	if len(pgids) == 0 {
		return out, nil
	}
	want := make(map[int]bool, len(pgids))
	for _, g := range pgids {
		want[g] = true
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("reading worker usage: %w", err)
	}
	pageSize := int64(unix.Getpagesize())
	ticks := make(map[int]uint64, len(pgids)) // summed as integers, divided once
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err != nil || pid <= 0 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		st, err := parseStat(string(data))
		if err != nil || !want[st.pgrp] {
			continue
		}
		u := out[st.pgrp]
		u.RSS += st.rssPages * pageSize
		out[st.pgrp] = u
		ticks[st.pgrp] += st.utime + st.stime
	}
	for g, u := range out {
		u.CPUSeconds = float64(ticks[g]) / clockTicks
		out[g] = u
	}
	return out, nil
}

type procStat struct {
	pgrp         int
	utime, stime uint64
	rssPages     int64
}

// parseStat reads /proc/<pid>/stat. The command name (field 2) is
// parenthesised but may itself contain spaces and parentheses, and a process
// can name itself "x) (y", so the fields start after the LAST ')'.
func parseStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("stat: no command name")
	}
	// f[0] is field 3 (state); field k is f[k-3].
	f := strings.Fields(s[i+1:])
	if len(f) < 24-2 {
		return procStat{}, fmt.Errorf("stat: %d fields after the command name, want at least 22", len(f))
	}
	var st procStat
	var err1, err2, err3, err4 error
	st.pgrp, err1 = strconv.Atoi(f[5-3])
	st.utime, err2 = strconv.ParseUint(f[14-3], 10, 64)
	st.stime, err3 = strconv.ParseUint(f[15-3], 10, 64)
	st.rssPages, err4 = strconv.ParseInt(f[24-3], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return procStat{}, fmt.Errorf("stat: %w", err)
	}
	st.rssPages = max(st.rssPages, 0)
	return st, nil
}
