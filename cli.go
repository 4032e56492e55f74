package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/drover-init/drover/health"
	"github.com/drover-init/drover/internal/config"
)

// statusCmd prints the workers of a running drover, like pm2 ls.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "drover: usage: drover status")
		return 2
	}
	return withHealth("status", stderr, func(ctx context.Context, addr string) int {
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
func probeCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "livez" && args[0] != "readyz") {
		fmt.Fprintln(stderr, "drover: usage: drover probe livez|readyz")
		return 2
	}
	return withHealth("probe", stderr, func(ctx context.Context, addr string) int {
		if err := health.Probe(ctx, addr, args[0]); err != nil {
			fmt.Fprintf(stderr, "drover: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "ok")
		return 0
	})
}

// withHealth runs a verb against the running drover's health server, found
// from the DROVER_HEALTH_ADDR the verbs inherit with the container (docker
// exec, HEALTHCHECK), within 5 s.
func withHealth(verb string, stderr io.Writer, f func(ctx context.Context, addr string) int) int {
	addr := config.HealthAddrOf()
	if addr == "" {
		fmt.Fprintf(stderr, "drover: the health server is off (DROVER_HEALTH_ADDR=off); drover %s needs it\n", verb)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f(ctx, addr)
}
