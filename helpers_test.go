package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// helperMain is the test binary acting as a worker (DROVER_TEST_HELPER).
func helperMain(mode string) int {
	switch mode {
	case "exit":
		n, _ := strconv.Atoi(os.Getenv("CODE"))
		return n
	case "env":
		// Print what a worker sees: its environment and open fds.
		for _, k := range []string{"DROVER_WORKER_ID", "DROVER_WORKERS", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		fmt.Printf("PID=%d\n", os.Getpid())
		ents, _ := os.ReadDir("/proc/self/fd")
		fmt.Printf("FDS=%d\n", len(ents))
		return 0
	case "wait-term":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Fprintln(os.Stderr, "helper ready")
		<-c
		return 0
	}
	// Each area's tests keep their own worker modes in their own file.
	for _, h := range []func(string) (int, bool){listenHelper, healthHelper} {
		if code, ok := h(mode); ok {
			return code
		}
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 99
}
