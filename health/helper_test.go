package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// testNames is the pool's vocabulary as main passes it.
var testNames = Names{
	States:  []string{"starting", "ready", "stopping", "backoff", "exited"},
	Reasons: []string{"exit", "watchdog", "memory", "startup-timeout", "reload"},
	Signals: []string{"SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"},
}

// fakeSource answers at once with a fixed snapshot or error.
type fakeSource struct {
	snap Snapshot
	err  error
}

func (f fakeSource) Snapshot(context.Context, Query) (Snapshot, error) { return f.snap, f.err }

// stuckSource is a loop that never answers but honours ctx.
type stuckSource struct{}

func (stuckSource) Snapshot(ctx context.Context, _ Query) (Snapshot, error) {
	<-ctx.Done()
	return Snapshot{}, ctx.Err()
}

// deafSource is a loop that never answers and ignores ctx too, like an
// adapter blocked on a lock; release lets the leaked goroutine end.
type deafSource struct{ release chan struct{} }

func (d deafSource) Snapshot(context.Context, Query) (Snapshot, error) {
	<-d.release
	return Snapshot{}, errors.New("released")
}

const testTimeout = 100 * time.Millisecond

// startServer runs a real server on 127.0.0.1:0 and stops it at cleanup.
func startServer(t *testing.T, src Source) string {
	t.Helper()
	return startServerOpts(t, Options{Source: src, Names: testNames, Gatherer: newRegistry(src, "v1.2.3", testNames, testTimeout), Timeout: testTimeout})
}

// startServerOpts runs a real server with opts on 127.0.0.1:0.
func startServerOpts(t *testing.T, opts Options) string {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	srv, err := New(opts)
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
		w := Worker{ID: i, Pid: 100 + i, State: "starting"}
		if i < ready {
			w.State, w.Ready = "ready", true
		}
		s.Workers = append(s.Workers, w)
	}
	return s
}

// scriptSource answers with the next snapshot of a script on each call
// (the last one repeats) and records what each call asked for.
type scriptSource struct {
	mu      sync.Mutex
	snaps   []Snapshot
	queries []Query
}

func (s *scriptSource) Snapshot(_ context.Context, q Query) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, q)
	snap := s.snaps[0]
	if len(s.snaps) > 1 {
		s.snaps = s.snaps[1:]
	}
	return snap, nil
}

func (s *scriptSource) asked() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}
