package config

import (
	"log/slog"
	"strings"
)

// The value forms that are one of a few words.

// word decodes one of a fixed set of words.
func word[T ~string](s string, words ...T) (T, error) {
	s = strings.TrimSpace(s)
	for _, w := range words {
		if s == string(w) {
			return w, nil
		}
	}
	return "", errQuiet
}

// Rounding is DROVER_CPU_ROUNDING.
type Rounding string

const (
	Ceil    Rounding = "ceil"
	Floor   Rounding = "floor"
	Nearest Rounding = "nearest"
)

func (r *Rounding) Decode(s string) (err error) {
	*r, err = word(s, Ceil, Floor, Nearest)
	return err
}

// ReadyMode is DROVER_READY.
type ReadyMode string

const (
	Started   ReadyMode = "started"
	Notify    ReadyMode = "notify"
	Listening ReadyMode = "listening"
)

func (r *ReadyMode) Decode(s string) (err error) {
	*r, err = word(s, Started, Notify, Listening)
	return err
}

// Restart is DROVER_RESTART.
type Restart string

const (
	Always    Restart = "always"
	OnFailure Restart = "on-failure"
	Never     Restart = "never"
)

func (r *Restart) Decode(s string) (err error) {
	*r, err = word(s, Always, OnFailure, Never)
	return err
}

// HUPMode is DROVER_HUP.
type HUPMode string

const (
	Reload  HUPMode = "reload"
	Forward HUPMode = "forward"
)

func (h *HUPMode) Decode(s string) (err error) {
	*h, err = word(s, Reload, Forward)
	return err
}

// LogFormat is DROVER_LOG_FORMAT.
type LogFormat string

const (
	TextLog LogFormat = "text"
	JSONLog LogFormat = "json"
)

func (f *LogFormat) Decode(s string) (err error) {
	*f, err = word(s, TextLog, JSONLog)
	return err
}

// StartLogFormat is DROVER_LOG_FORMAT as far as it can be read without a
// valid configuration, for the line that says why drover cannot start:
// json only if it says exactly that.
func StartLogFormat() LogFormat {
	if v, _ := value("DROVER_LOG_FORMAT"); strings.TrimSpace(v) == string(JSONLog) {
		return JSONLog
	}
	return TextLog
}

// LogLevel is DROVER_LOG_LEVEL.
type LogLevel slog.Level

func (l *LogLevel) Decode(s string) error {
	v, ok := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	}[strings.TrimSpace(s)]
	if !ok {
		return errQuiet
	}
	*l = LogLevel(v)
	return nil
}
