// Package config reads drover's DROVER_* environment variables into one
// Settings struct. It is the one list of variables: decoding, --help, the
// unknown-name check and the README's table all come from the struct.
//
// Decoding is github.com/kelseyhightower/envconfig's (the design card names
// it): envconfig.Process fills the struct, and each of drover's value forms
// (the auto word, ready and HUP modes, bounded counts and durations, stop
// signals, the user spec, byte sizes, log levels) is a small named type with
// envconfig's Decode method, so that a bad value is refused with drover's
// own one-line message. Names come from envconfig's split_words rule
// (WorkersPerCPU is DROVER_WORKERS_PER_CPU); no field uses an `envconfig`
// tag, because envconfig falls back from a tagged DROVER_USER to a bare
// USER, and every shell sets USER.
//
// Around envconfig, three rules that it does not have:
//   - An empty or blank value means unset, for every variable: templated
//     manifests produce them. Of duplicate names the first wins, even a
//     blank one, which leaves the variable unset (the Go runtime gives
//     drover the first).
//     envconfig reads the process environment, so Load removes blank
//     DROVER_* values from drover's own environment before it runs; the
//     workers get the environment as drover received it.
//   - An unknown DROVER_* name is refused with a did-you-mean: a typo would
//     otherwise be silently ignored. Kubernetes service-link variables of a
//     Service whose name starts with "drover" (DROVER_SERVICE_HOST,
//     DROVER_PORT_80_TCP_ADDR, …) are not drover's and are left alone.
//   - Defaults that depend on the mode (pool or plain init) are filled after
//     decoding, and values that are each valid but not together are refused.
//
// This package imports nothing of drover's: its types are its own, and
// package main converts them into what the other packages take.
package config
