package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a worker-like child process
// instead of running tests (the TestMain helper-process pattern).
const helperEnv = "DROVER_HEALTH_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "notify":
		os.Exit(helperNotify())
	case "idle":
		// Say we run, then live until the parent closes stdin.
		fmt.Println("running")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// helperNotify is what sd_notify(0, "READY=1\nSTATUS=hello") does.
func helperNotify() int {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1\nSTATUS=hello")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fakeSource answers at once with a fixed snapshot or error.
type fakeSource struct {
	snap Snapshot
	err  error
}

func (f fakeSource) Snapshot(context.Context) (Snapshot, error) { return f.snap, f.err }

// stuckSource is a loop that never answers but honours ctx.
type stuckSource struct{}

func (stuckSource) Snapshot(ctx context.Context) (Snapshot, error) {
	<-ctx.Done()
	return Snapshot{}, ctx.Err()
}

// deafSource is a loop that never answers and ignores ctx too, like an
// adapter blocked on a lock; release lets the leaked goroutine end.
type deafSource struct{ release chan struct{} }

func (d deafSource) Snapshot(context.Context) (Snapshot, error) {
	<-d.release
	return Snapshot{}, errors.New("released")
}

const testTimeout = 100 * time.Millisecond

// startServer runs a real server on 127.0.0.1:0 and stops it at cleanup.
func startServer(t *testing.T, src Source) string {
	t.Helper()
	srv, err := New(Options{Addr: "127.0.0.1:0", Source: src, Gatherer: newRegistry(src, "v1.2.3", testTimeout), Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return srv.Addr().String()
}

type response struct {
	code   int
	body   string
	header http.Header
}

func do(t *testing.T, method, addr, path string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, string(b), resp.Header}
}

func httpGet(t *testing.T, addr, path string) response { return do(t, http.MethodGet, addr, path) }

// pool builds a snapshot with desired workers of which the first ready are ready.
func pool(desired, ready, minReady int) Snapshot {
	s := Snapshot{Version: "v1.2.3", Desired: desired, MinReady: minReady}
	for i := range desired {
		w := Worker{ID: i, Pid: 100 + i, State: StateStarting}
		if i < ready {
			w.State, w.Ready = StateReady, true
		}
		s.Workers = append(s.Workers, w)
	}
	return s
}

// readLine reads one line from r, failing the test after a timeout.
func readLine(t *testing.T, r io.Reader) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		ch <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ch:
		return line
	case <-time.After(10 * time.Second):
		t.Fatal("timed out reading from child")
		return ""
	}
}
