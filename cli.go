package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/drover-init/drover/health"
)

// healthAddr is where a running drover in this container serves, from the
// same DROVER_HEALTH_ADDR the CLI verbs inherit (docker exec, HEALTHCHECK).
// It is "" when the variable says off: there is nothing to ask.
func healthAddr(environ []string) string {
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if v = strings.TrimSpace(v); k != "DROVER_HEALTH_ADDR" || v == "" {
			continue
		}
		if v == "off" {
			return ""
		}
		return v
	}
	return ":8081"
}

// healthOff is the one line for a verb that needs the health server when
// DROVER_HEALTH_ADDR turns it off.
func healthOff(stderr io.Writer, verb string) int {
	fmt.Fprintf(stderr, "drover: the health server is off (DROVER_HEALTH_ADDR=off); drover %s needs it\n", verb)
	return 1
}

// statusCmd prints the workers of a running drover, like pm2 ls.
func statusCmd(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "drover: usage: drover status")
		return 2
	}
	return withHealth("status", environ, stderr, func(ctx context.Context, addr string) int {
		s, err := health.FetchStatus(ctx, addr)
		if err != nil {
			fmt.Fprintf(stderr, "drover: %v (is drover running with its health server on %s? see DROVER_HEALTH_ADDR)\n", err, addr)
			return 1
		}
		if err := health.WriteTable(stdout, s); err != nil {
			fmt.Fprintf(stderr, "drover: status: %v\n", err)
			return 1
		}
		return 0
	})
}

// probeCmd exits 0 when the endpoint answers 200: a HEALTHCHECK for images
// without curl.
func probeCmd(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "livez" && args[0] != "readyz") {
		fmt.Fprintln(stderr, "drover: usage: drover probe livez|readyz")
		return 2
	}
	return withHealth("probe", environ, stderr, func(ctx context.Context, addr string) int {
		if err := health.Probe(ctx, addr, args[0]); err != nil {
			fmt.Fprintf(stderr, "drover: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "ok")
		return 0
	})
}

// withHealth runs a verb against the running drover's health server, found
// from the same DROVER_HEALTH_ADDR, within 5 s.
func withHealth(verb string, environ []string, stderr io.Writer, f func(ctx context.Context, addr string) int) int {
	addr := healthAddr(environ)
	if addr == "" {
		return healthOff(stderr, verb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f(ctx, addr)
}
