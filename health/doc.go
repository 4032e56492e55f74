// Package health is drover's window for Kubernetes and for operators: the
// /livez, /readyz, /status and /metrics endpoints, and the client side used
// by `drover status` and `drover probe`.
//
// The package keeps no copy of the pool's state. Every request and every
// scrape asks the supervision loop for a fresh Snapshot through Source, so
// what Kubernetes sees can never drift from what drover does, and a loop
// that stops answering is exactly what /livez reports. main adapts the
// pool's state into these plain types and passes the pool's vocabulary
// (states, restart reasons, signal names) as Names; nothing here imports
// the rest of drover.
//
// The server runs in PID 1, so it bounds what clients can take: at most
// Options.MaxConns connections, and short header and idle timeouts.
package health
