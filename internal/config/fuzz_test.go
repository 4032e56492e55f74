package config

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzLoad sets variables from one input, a NAME=value per line (names
// without the DROVER_ prefix, so the fuzzer also makes unknown ones), and
// checks that no value panics, that a refusal is one line naming a DROVER_*
// variable, and that an accepted configuration keeps its bounds. Seeds are
// keyed by name, so they stay meaningful when variables are added.
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 60s ./internal/config
func FuzzLoad(f *testing.F) {
	for _, seed := range []map[string]string{
		{},
		{"WORKERS": "auto", "WORKERS_MIN": "1", "WORKERS_MAX": "0", "WORKERS_PER_CPU": "1", "CPU_ROUNDING": "ceil", "LISTEN": ":0"},
		{"WORKERS": "100000", "WORKERS_PER_CPU": "100000"},
		{"WORKERS_MIN": "4", "WORKERS_MAX": "2"},
		{"WORKERS": "3", "USER": "4294967296"},
		{"WORKERS": "3", "USER": "root:root", "HEALTH_ADDR": "off", "READY": "notify", "READY_DELAY": "60s", "STARTUP_TIMEOUT": "60s"},
		{"STOP_SIGNAL": "SIGSTOP"},
		{"CRASH_LIMIT": "-1", "BACKOFF_MAX": "99ms"},
		{"WORKERS": "auto", "WORKERS_MIN": "1", "WORKERS_MAX": "4096", "WORKERS_PER_CPU": "0.001", "CPU_ROUNDING": "nearest",
			"CPU_MILLICORES": "-5", "CPU_FILE": "/x\ny", "CPU_RECHECK": "1ns", "WORKER_MEMORY": "1Ti", "LISTEN": "a=tcp://[::1]:0,unix:///x",
			"REUSEPORT": "1", "USER": "-1:-1", "READY": "started", "READY_DELAY": "-0s", "STARTUP_TIMEOUT": "1ns",
			"WATCHDOG": "0", "MIN_READY": "100%", "RESTART": "never", "CRASH_LIMIT": "-0", "DRAIN_DELAY": "2562047h",
			"STOP_SIGNAL": "64", "STOP_TIMEOUT": "0s", "HUP": "reload", "MAX_MEMORY": "9Ti", "LOG_FORMAT": "json", "LOG_LEVEL": "debug"},
		{"WORKER": "3", "SERVICE_HOST": "10.0.0.1", "PORT_80_TCP_PORT": "x"},
	} {
		var b strings.Builder
		for k, v := range seed {
			b.WriteString(k + "=" + v + "\n")
		}
		f.Add(b.String())
	}
	f.Fuzz(func(t *testing.T, in string) {
		var environ []string
		for _, line := range strings.Split(in, "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok || k == "" || strings.ContainsAny(k, "\x00=") || strings.Contains(v, "\x00") {
				continue
			}
			environ = append(environ, "DROVER_"+k+"="+v)
		}
		s, err := load(t, environ...)
		if err != nil {
			var ce *Error
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error of more than one line: %q", msg)
			}
			if !errors.As(err, &ce) || !strings.HasPrefix(msg, "DROVER_") {
				t.Fatalf("error not naming a variable: %q", msg)
			}
			return
		}
		if s.Workers < 0 || s.Workers > MaxWorkers || s.WorkersMin < 1 || s.WorkersMin > MaxWorkers ||
			s.WorkersMax < 0 || s.WorkersMax > MaxWorkers {
			t.Fatalf("worker counts out of bounds: %+v", s)
		}
		if s.WorkersPerCPU.Rat == nil || s.WorkersPerCPU.Sign() <= 0 || s.WorkersPerCPU.Cmp(big.NewRat(MaxWorkers, 1)) > 0 {
			t.Fatalf("per-CPU out of bounds: %v", s.WorkersPerCPU)
		}
		if s.StartupTimeout <= 0 || s.ReadyDelay < 0 || s.ReadyDelay >= Duration(s.StartupTimeout) || s.Watchdog < 0 ||
			s.DrainDelay < 0 || s.StopTimeout < 0 || time.Duration(s.BackoffMax) < minBackoff || s.CrashLimit < 0 {
			t.Fatalf("durations or limits out of bounds: %+v", s)
		}
		var again StopSignal
		if err := again.Decode(strconv.Itoa(int(s.StopSignal))); err != nil || again != s.StopSignal {
			t.Fatalf("stop signal %d accepted but not by number", s.StopSignal)
		}
		if s.User.Credential != nil && (s.User.Uid > maxID || s.User.Gid > maxID) {
			t.Fatalf("credential out of range: %+v", s.User.Credential)
		}
		if s.LogFormat != TextLog && s.LogFormat != JSONLog {
			t.Fatalf("log format %q", s.LogFormat)
		}
	})
}
