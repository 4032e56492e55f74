package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/internal/health"
	"github.com/drover-init/drover/internal/listener"
	"github.com/drover-init/drover/internal/spawn"
)

// validate turns the raw variables into Settings, applying the defaults that
// depend on the mode, and rejects values that parse but make no sense.
func validate(c Config) (*Settings, error) {
	s := &Settings{Raw: c, MaxMemory: int64(c.MaxMemory), WorkerMemory: int64(c.WorkerMemory)}
	s.Pool = c.Listen != "" || c.Workers != ""

	switch w := strings.TrimSpace(c.Workers); {
	case w == "" && c.Listen != "", w == "auto":
		s.Workers = 0
	case w == "":
		s.Workers = 1
	default:
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 {
			return nil, bad("Workers", c.Workers, "")
		}
		s.Workers = n
	}
	if c.WorkersMin < 1 {
		return nil, bad("WorkersMin", strconv.Itoa(c.WorkersMin), "")
	}
	if c.WorkersMax < 0 {
		return nil, bad("WorkersMax", strconv.Itoa(c.WorkersMax), "")
	}
	if c.WorkersMax > 0 && c.WorkersMax < c.WorkersMin {
		return nil, bad("WorkersMax", strconv.Itoa(c.WorkersMax), fmt.Sprintf("below DROVER_WORKERS_MIN=%d", c.WorkersMin))
	}
	r, err := cpus.ParsePerCPU(strings.TrimSpace(c.WorkersPerCPU))
	if err != nil {
		return nil, bad("WorkersPerCPU", c.WorkersPerCPU, "")
	}
	s.PerCPU = r
	if s.Rounding, err = cpus.ParseRounding(c.CPURounding); err != nil {
		return nil, bad("CPURounding", c.CPURounding, "")
	}
	if s.MinReady, err = health.ParseMinReady(c.MinReady); err != nil {
		return nil, bad("MinReady", c.MinReady, "")
	}
	if s.Listen, err = listener.Parse(c.Listen); err != nil {
		return nil, err // already one line naming DROVER_LISTEN and what is accepted
	}

	restart := c.Restart
	if restart == "" {
		restart = map[bool]string{true: "always", false: "never"}[s.Pool]
	}
	if s.Restart, err = spawn.ParsePolicy(restart); err != nil {
		return nil, bad("Restart", c.Restart, "")
	}

	s.HealthAddr = c.HealthAddr
	switch {
	case s.HealthAddr == "" && s.Pool:
		s.HealthAddr = ":8081"
	case s.HealthAddr == "" || s.HealthAddr == "off":
		s.HealthAddr = ""
	}

	switch c.Ready {
	case "started":
	case "notify":
		s.Notify = true
	default:
		return nil, bad("Ready", c.Ready, "")
	}
	if err := nonNegative("ReadyDelay", c.ReadyDelay); err != nil {
		return nil, err
	}
	if c.StartupTimeout <= 0 {
		return nil, bad("StartupTimeout", c.StartupTimeout.String(), "")
	}
	if c.ReadyDelay >= c.StartupTimeout {
		return nil, bad("ReadyDelay", c.ReadyDelay.String(), fmt.Sprintf("must be shorter than DROVER_STARTUP_TIMEOUT=%s", c.StartupTimeout))
	}
	for name, d := range map[string]time.Duration{"Watchdog": c.Watchdog, "DrainDelay": c.DrainDelay, "StopTimeout": c.StopTimeout} {
		if err := nonNegative(name, d); err != nil {
			return nil, err
		}
	}
	if c.BackoffMax < 100*time.Millisecond {
		return nil, bad("BackoffMax", c.BackoffMax.String(), "")
	}
	if c.CrashLimit < 0 {
		return nil, bad("CrashLimit", strconv.Itoa(c.CrashLimit), "")
	}
	sig, ok := spawn.ParseSignal(strings.ToUpper(c.StopSignal))
	if !ok {
		return nil, bad("StopSignal", c.StopSignal, "")
	}
	s.StopSignal = sig

	switch c.HUP {
	case "reload":
		s.HUPReload = true
	case "forward":
	case "":
		s.HUPReload = s.Pool
	default:
		return nil, bad("HUP", c.HUP, "")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, bad("LogFormat", c.LogFormat, "")
	}
	if c.LogLevel == "" {
		// A plain init is as quiet as tini: only problems.
		s.Raw.LogLevel = map[bool]string{true: "info", false: "warn"}[s.Pool]
	} else if _, ok := logLevel(c.LogLevel); !ok {
		return nil, bad("LogLevel", c.LogLevel, "")
	}
	if c.User != "" {
		cred, err := lookupUser(c.User)
		if err != nil {
			return nil, bad("User", c.User, err.Error())
		}
		s.Credential = cred
	}
	return s, nil
}

func nonNegative(name string, d time.Duration) error {
	if d < 0 {
		return bad(name, d.String(), "negative")
	}
	return nil
}
