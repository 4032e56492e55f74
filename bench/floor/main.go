// Command floor is the least a Go supervisor with drover's dependencies can
// cost: it links net/http and client_golang (whose package initialisation
// runs at every start) and runs its arguments with os/exec. bench/run
// compares drover's start time and memory against it; it is built into a
// temporary directory, never committed as a binary.
//
//	floor CMD ARGS...         run CMD, exit with its status
//	floor -serve CMD ARGS...  also serve /metrics (Go and process collectors) on 127.0.0.1:0,
//	                          whose address goes to $METRICS_FILE if set
package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "-serve" {
		args = args[1:]
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.Exit(2)
		}
		if f := os.Getenv("METRICS_FILE"); f != "" { // for bench/run's scrapes
			_ = os.WriteFile(f, []byte(ln.Addr().String()), 0o644)
		}
		go func() { _ = http.Serve(ln, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})) }()
	}
	if len(args) == 0 {
		os.Exit(2)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	default:
		os.Exit(127)
	}
}
