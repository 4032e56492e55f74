package main

import (
	"fmt"
	"io"
	"strings"
)

func stringsCut(kv string) (string, string, bool) { return strings.Cut(kv, "=") }

// statusCmd prints the workers of a running drover.
func statusCmd(args, environ []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "drover: status: not available yet")
	return 1
}

// probeCmd exits 0 when the endpoint answers 200.
func probeCmd(args, environ []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "drover: probe: not available yet")
	return 1
}
