// Command pause is the pod sandbox's process: the kubelet needs an image
// for it, and without a registry there is no registry.k8s.io/pause. It
// waits for SIGTERM or SIGINT and exits 0.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
