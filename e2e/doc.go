// Package e2e holds drover's black-box tests: every test here runs the real
// drover binary, built once by TestMain with coverage instrumentation, and
// drives it only as a user or a container runtime would — environment,
// arguments, signals, sockets, HTTP and exit codes. Nothing here imports
// drover's packages, so the tests survive any change to its internals.
//
// Run them as root (PID namespaces, cgroups, DROVER_USER) with
//
//	go test -race -v ./e2e/
//
// See README.md in this directory for the harness, the worker protocol and
// the coverage report.
package e2e
