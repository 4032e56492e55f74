package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/listener"
	"github.com/drover-init/drover/spawn"
)

// decoder is a type in this package that reads its own variable (the
// convention envconfig uses, kept so such types read the same).
type decoder interface{ Decode(string) error }

// ownError is an error that already names its variable and what is
// accepted; it is returned as is rather than wrapped in a ConfigError.
type ownError struct{ error }

// decodeField sets f from one variable's value. Errors are ConfigErrors
// showing the value exactly as typed.
func decodeField(f reflect.Value, v configVar, typed string) error {
	value := strings.TrimSpace(typed)
	fail := func(detail string) error {
		return &ConfigError{Var: v.Key, Value: typed, Accept: v.Accept, Detail: detail}
	}
	if words := v.tag.Get("words"); words != "" {
		w, ok := wordValue(words, value)
		switch {
		case ok && f.Kind() == reflect.Int: // a word standing for a number (auto=0): no bounds apply
			n, _ := strconv.Atoi(w)
			f.SetInt(int64(n))
			return nil
		case ok:
			value = w
		case f.Kind() != reflect.Int:
			return fail("")
		}
	}
	if d, ok := f.Addr().Interface().(decoder); ok {
		if err := d.Decode(value); err != nil {
			return fail(err.Error())
		}
		return nil
	}
	if f.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(value)
		if err != nil {
			return fail("")
		}
		if detail := inRange(v.tag, d, time.ParseDuration); detail != "" {
			return fail(detail)
		}
		f.SetInt(int64(d))
		return nil
	}
	if parse, ok := typeDecoders()[f.Type()]; ok {
		x, err := parse(value)
		var own ownError
		switch {
		case errors.As(err, &own):
			return own.error
		case err != nil:
			return fail(err.Error())
		}
		f.Set(reflect.ValueOf(x))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(value)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fail("")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fail(numError(err))
		}
		if detail := inRange(v.tag, n, parseInt64); detail != "" {
			return fail(detail)
		}
		if f.OverflowInt(n) {
			return fail("out of range")
		}
		f.SetInt(n)
	default:
		panic("config: no decoder for " + f.Type().String()) // caught by any test
	}
	return nil
}

func parseInt64(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// wordValue maps an accepted word onto the text the field's decoder reads:
// words "started=false notify=true" turn "notify" into "true"; words
// "text json" accept those words as they are.
func wordValue(words, value string) (string, bool) {
	for _, w := range strings.Fields(words) {
		word, to, mapped := strings.Cut(w, "=")
		if word == value {
			if mapped {
				return to, true
			}
			return value, true
		}
	}
	return "", false
}

// inRange checks a number against the field's min and max tags.
func inRange[T int64 | time.Duration](tag reflect.StructTag, n T, parse func(string) (T, error)) string {
	if lo := tag.Get("min"); lo != "" {
		if m, _ := parse(lo); n < m {
			switch m {
			case 0:
				return "negative"
			case 1:
				return "must be more than 0"
			}
			return "below the minimum " + lo
		}
	}
	if hi := tag.Get("max"); hi != "" {
		if m, _ := parse(hi); n > m {
			return "above the maximum " + hi
		}
	}
	return ""
}

func numError(err error) string {
	if errors.Is(err, strconv.ErrRange) {
		return "out of range"
	}
	return ""
}

// typeDecoders reads the types the packages define, with their own parsers.
func typeDecoders() map[reflect.Type]func(string) (any, error) {
	return map[reflect.Type]func(string) (any, error){
		reflect.TypeFor[spawn.Policy]():    func(s string) (any, error) { return quiet(spawn.ParsePolicy(s)) },
		reflect.TypeFor[cpus.Rounding]():   func(s string) (any, error) { return quiet(cpus.ParseRounding(s)) },
		reflect.TypeFor[health.MinReady](): func(s string) (any, error) { return quiet(health.ParseMinReady(s)) },
		reflect.TypeFor[*big.Rat]():        parsePerCPU,
		reflect.TypeFor[syscall.Signal]():  func(s string) (any, error) { return parseStopSignal(s) },
		reflect.TypeFor[slog.Level]():      parseLogLevel,
		reflect.TypeFor[[]listener.Spec](): parseListen,
		reflect.TypeFor[*syscall.Credential](): func(s string) (any, error) {
			return lookupUser(s)
		},
	}
}

// quiet drops a package parser's message: it repeats the variable and the
// accepted values that the ConfigError already shows.
func quiet[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, errors.New("")
	}
	return v, nil
}

func parsePerCPU(s string) (any, error) {
	r, err := cpus.ParsePerCPU(s)
	if err != nil {
		return nil, errors.New("") // the accept text says it all
	}
	if r.Cmp(big.NewRat(maxWorkers, 1)) > 0 {
		return nil, fmt.Errorf("above the limit of %d workers", maxWorkers)
	}
	return r, nil
}

func parseListen(s string) (any, error) {
	specs, err := listener.Parse(s)
	if err != nil {
		return nil, ownError{err} // already one line naming DROVER_LISTEN
	}
	return specs, nil
}

func parseLogLevel(s string) (any, error) {
	if l, ok := logLevel(s); ok {
		return l, nil
	}
	return nil, errors.New("")
}

// parseStopSignal reads DROVER_STOP_SIGNAL: TERM, SIGTERM, term or 15.
// Only a signal whose default action ends a process is accepted: a worker
// that ignores the stop signal is what the stop timeout is for, but a stop
// signal that can never end any worker (STOP, CHLD, ...) makes every stop
// wait the whole timeout.
func parseStopSignal(s string) (syscall.Signal, error) {
	var sig syscall.Signal
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 || (n < 34 && unix.SignalName(syscall.Signal(n)) == "") {
			return 0, errors.New("no such signal")
		}
		sig = syscall.Signal(n)
	} else {
		name := strings.ToUpper(s)
		if !strings.HasPrefix(name, "SIG") {
			name = "SIG" + name
		}
		if sig = unix.SignalNum(name); sig == 0 {
			return 0, errors.New("no such signal")
		}
	}
	switch sig {
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH:
		return 0, errors.New("by default this signal does not end a process")
	}
	return sig, nil
}

// ByteSize is a memory amount in bytes, written the Kubernetes way.
type ByteSize int64

// Decode reads 512Mi, 1G, 1048576.
func (b *ByteSize) Decode(s string) error {
	n, err := parseBytes(s)
	*b = ByteSize(n)
	return err
}

func parseBytes(s string) (int64, error) {
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
			return 0, errors.New("not a positive size")
		}
		return n * u.mult, nil
	}
	return 0, errors.New("not a size")
}
