package listener_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"

	"github.com/drover-init/drover/listener"
)

// A Go worker under drover takes its sockets with Listeners instead of
// net.Listen; they are meant for it when LISTEN_PID is its own pid. Here
// this test binary plays both parts: drover's side opens the socket once
// and starts a worker through a shell that sets LISTEN_PID=$$, as drover's
// exec shim does; the worker (exampleWorker) answers one connection.
func Example_worker() {
	set, err := listener.Open([]listener.Spec{{Name: "web", Kind: listener.TCP, Host: "127.0.0.1"}}, listener.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Close()
	files, err := set.Files(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Println(err)
		return
	}
	worker := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0"`, exe)
	worker.Env = append(set.Env(), "LISTENER_TEST_ROLE=example-worker")
	worker.ExtraFiles, worker.Stderr = files, os.Stderr
	if err := worker.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer worker.Wait()
	c, err := net.Dial("tcp", set.Addrs()[0].String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println(err)
	}
	fmt.Print(line)
	// Output: web: hello from the worker
}
