package main

import (
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-init/drover/internal/config"
	"github.com/drover-init/drover/internal/logging"
)

// newLogger starts drover's own log output on w: "drover: message
// key=value" in text form, so they stand apart from the workers' output on
// the same stream, or one JSON object per line. Lines go through a bounded
// queue to one writer goroutine (internal/logging), so a stderr that stops
// draining never blocks supervision; Close it before exit.
func newLogger(format config.LogFormat, level config.LogLevel, w io.Writer) *logging.Output {
	return logging.New(w, logging.Options{Format: string(format), Level: slog.Level(level)})
}

// startError reports why drover cannot start as one line in the log
// format: "drover: <err>" as text, or one JSON object at level ERROR,
// escaped like every line of drover's, and written with a bounded wait
// (drover exits 2 right after; a stuck stderr must not hold that up).
// Every start-up error goes here so that DROVER_LOG_FORMAT=json holds for
// them too; format is config.StartLogFormat() before the configuration is
// loaded.
func startError(format config.LogFormat, w io.Writer, err error) {
	logging.StartError(string(format), w, err, logging.FlushTimeout)
}

// droppedLines exports how many of drover's own log lines stderr did not
// take (internal/logging drops rather than block supervision).
func droppedLines(dropped func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "drover_log_lines_dropped_total",
		Help: "drover's own log lines dropped because stderr did not take them in time.",
	}, func() float64 { return float64(dropped()) })
}
