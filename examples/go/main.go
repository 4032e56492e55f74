// A tiny HTTP app served on the socket drover passes as fd 3. It tells
// drover it is ready with sd_notify READY=1 (run with DROVER_READY=notify),
// so a worker counts as ready only once it can serve, and finishes the
// requests in flight on SIGTERM.
//
//	DROVER_LISTEN=:8080 DROVER_READY=notify drover -- go run ./examples/go
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		log.Fatal("not started through drover (LISTEN_PID is not my pid)")
	}
	// drover already bound and listens; never listen on the port yourself.
	ln, err := net.FileListener(os.NewFile(3, "http"))
	if err != nil {
		log.Fatalf("fd 3: %v", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from worker %s pid %d\n", os.Getenv("DROVER_WORKER_ID"), os.Getpid())
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := notify("READY=1"); err != nil {
		log.Printf("sd_notify: %v", err)
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}

// notify sends one sd_notify datagram; without NOTIFY_SOCKET (not run with
// DROVER_READY=notify) there is no one to tell.
func notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
