//go:build !linux

package cpus

import "runtime"

// Affinity falls back to the runtime's count where there is no
// sched_getaffinity; drover only ships for Linux, this keeps the package
// building (and its pure parts testable) elsewhere.
func Affinity() (int, error) {
	return runtime.NumCPU(), nil
}
