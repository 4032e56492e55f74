// Command activation is a worker that finds its sockets the way systemd
// services do, with github.com/coreos/go-systemd/v22/activation. It lives
// in its own module so drover's go.mod never depends on go-systemd: the
// library is what is being tested against, not something drover uses.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
)

func main() {
	// The library returns nothing unless LISTEN_PID is this process's pid,
	// which is what this worker exists to prove.
	byName, err := activation.ListenersWithNames()
	if err != nil {
		fmt.Fprintln(os.Stderr, "activation:", err)
		os.Exit(3)
	}
	if len(byName) == 0 {
		fmt.Fprintf(os.Stderr, "activation: no listeners (LISTEN_PID=%q, pid %d, LISTEN_FDS=%q)\n",
			os.Getenv("LISTEN_PID"), os.Getpid(), os.Getenv("LISTEN_FDS"))
		os.Exit(4)
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	errs := make(chan error)
	for _, name := range names {
		for _, l := range byName[name] {
			go func(name string, l net.Listener) {
				errs <- http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					fmt.Fprintf(w, "pid=%d worker=%s name=%s names=%s\n",
						os.Getpid(), os.Getenv("DROVER_WORKER_ID"), name, strings.Join(names, ","))
				}))
			}(name, l)
		}
	}
	fmt.Fprintln(os.Stderr, "activation:", <-errs)
	os.Exit(1)
}
