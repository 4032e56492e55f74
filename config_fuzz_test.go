package main

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// FuzzLoadConfig sets every variable at once from one input, one value per
// line in configVars order (a missing line leaves the variable unset), and
// checks that no value panics, that a refusal is one line naming a
// DROVER_* variable, and that an accepted configuration keeps its bounds.
//
//	go test -run '^$' -fuzz FuzzLoadConfig -fuzztime 60s .
func FuzzLoadConfig(f *testing.F) {
	vars := configVars()
	for _, seed := range [][]string{
		{},
		{"auto", "1", "0", "1", "ceil", "", "", ":0"},
		{"100000", "", "", "100000"},
		{"", "4", "2"},
		{"3", "", "", "", "", "", "", "", "", "4294967296"},
		{"3", "", "", "", "", "", "", "", "", "root:root", "off", "notify", "60s", "60s"},
		{"", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "SIGSTOP"},
		{"auto", "1", "4096", "0.001", "nearest", "-5", "1Ti", "a=tcp://[::1]:0,unix:///x", "1", "-1:-1",
			":1", "started", "-0s", "1ns", "0", "100%", "never", "99ms", "-0", "2562047h", "64", "0s", "reload", "9Ti", "json", "debug"},
	} {
		f.Add(strings.Join(seed, "\n"))
	}
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Split(in, "\n")
		environ := []string{"PATH=/bin"}
		for i, v := range vars {
			if i < len(lines) {
				environ = append(environ, v.Key+"="+lines[i])
			}
		}
		if len(lines) > len(vars) { // the rest is a name: the unknown-variable check
			environ = append(environ, "DROVER_"+lines[len(vars)]+"=1")
		}
		s, err := LoadConfig(environ)
		if err != nil {
			var ce *ConfigError
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error of more than one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "DROVER_") || (!errors.As(err, &ce) && !strings.HasPrefix(msg, "DROVER_LISTEN: ")) {
				t.Fatalf("error not naming a variable: %q", msg)
			}
			return
		}
		if s.Workers < 0 || s.Workers > maxWorkers || s.WorkersMin < 1 || s.WorkersMin > maxWorkers ||
			s.WorkersMax < 0 || s.WorkersMax > maxWorkers {
			t.Fatalf("worker counts out of bounds: %+v", s)
		}
		if s.PerCPU == nil || s.PerCPU.Sign() <= 0 || s.PerCPU.Cmp(big.NewRat(maxWorkers, 1)) > 0 {
			t.Fatalf("per-CPU out of bounds: %v", s.PerCPU)
		}
		if s.StartupTimeout <= 0 || s.ReadyDelay < 0 || s.ReadyDelay >= s.StartupTimeout || s.Watchdog < 0 ||
			s.DrainDelay < 0 || s.StopTimeout < 0 || s.BackoffMax < 100e6 || s.CrashLimit < 0 {
			t.Fatalf("durations or limits out of bounds: %+v", s)
		}
		if _, err := parseStopSignal(strconv.Itoa(int(s.StopSignal))); err != nil {
			t.Fatalf("stop signal %d accepted by name but not by number: %v", s.StopSignal, err)
		}
		if s.Credential != nil && (s.Credential.Uid > maxID || s.Credential.Gid > maxID) {
			t.Fatalf("credential out of range: %+v", s.Credential)
		}
		if s.LogFormat != "text" && s.LogFormat != "json" {
			t.Fatalf("log format %q", s.LogFormat)
		}
	})
}
