// Package health is drover's window for Kubernetes and for operators: the
// /livez, /readyz, /status and /metrics endpoints, the sd_notify socket
// workers report readiness on, per-worker resource usage read from /proc,
// and the client side used by `drover status` and `drover probe`.
//
// The package keeps no copy of the pool's state. Every request and every
// scrape asks the supervision loop for a fresh Snapshot through Source, so
// what Kubernetes sees can never drift from what drover does, and a loop
// that stops answering is exactly what /livez reports. main adapts the
// pool's state into these plain types; nothing here imports the rest of
// drover.
package health
