//go:build !linux

package logging

// quietPipe is Linux-only: drover's signal handling is.
func quietPipe() {}
