package health

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultTimeout bounds how long a request waits for the supervision loop.
// It must stay well below a Kubernetes probe's timeoutSeconds (1 s by
// default, usually raised) so that /livez answers 503 itself instead of
// the kubelet seeing a hung connection.
const DefaultTimeout = 2 * time.Second

// DefaultMaxConns bounds the health server's open connections. drover is
// PID 1 and needs its descriptors to start workers; probes and scrapes
// need a handful. Connections beyond it wait in the kernel's accept queue,
// which costs drover no descriptor.
const DefaultMaxConns = 64

// Timeouts that free a connection slot from a client that connects and
// stays silent, or sends slowly. Probes and scrapes send their request at
// once and read a small answer.
const (
	headerTimeout = 2 * time.Second
	idleTimeout   = 10 * time.Second
)

// Options configure the health server.
type Options struct {
	Addr   string // DROVER_HEALTH_ADDR, e.g. ":8081"
	Source Source // required
	// Names are the label values of /status and /metrics that exist even
	// at zero (restart reasons in /status; states, reasons and signals in
	// the registry, which takes them separately).
	Names Names
	// Gatherer is served on /metrics, normally NewRegistry's result; nil
	// leaves /metrics unrouted (404).
	Gatherer prometheus.Gatherer
	Timeout  time.Duration // per-request wait for Source; 0 means DefaultTimeout
	Logger   *slog.Logger  // nil discards
	MaxConns int           // open connections at most; 0 means DefaultMaxConns

	// headerTimeout and idleTimeout replace the defaults in tests.
	headerTimeout, idleTimeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Server is the health HTTP server. New binds the port so that a taken port
// fails drover's startup rather than surfacing later as failing probes;
// Serve and Shutdown are the execute/interrupt pair of an oklog/run group.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// New binds opts.Addr and prepares the server; nothing is served until Serve.
func New(opts Options) (*Server, error) {
	if opts.Source == nil {
		return nil, errors.New("health: Options.Source is nil")
	}
	ln, err := Listen(opts.Addr)
	if err != nil {
		return nil, err
	}
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	ln = newLimitListener(ln, maxConns)
	srv := &http.Server{
		Handler:           NewHandler(opts),
		ReadHeaderTimeout: cmp.Or(opts.headerTimeout, headerTimeout),
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       cmp.Or(opts.idleTimeout, idleTimeout),
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(opts.logger().Handler(), slog.LevelDebug),
	}
	return &Server{ln: ln, srv: srv}, nil
}

// Addr is the bound address, which differs from Options.Addr for port 0.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers requests until Shutdown; it then returns nil, so that a
// normal stop does not read as a failure in the run group.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("health server on %s: %w", s.ln.Addr(), err)
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then drops them. It also works when Serve never ran (startup aborted
// after New), releasing the port.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	_ = s.ln.Close() // Serve may never have taken ownership of it
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("health server shutdown: %w", err)
	}
	return nil
}

// Listen binds the health address. Errors are one line that names
// DROVER_HEALTH_ADDR and says what to do, and still wrap the syscall error:
// errors.Is(err, syscall.EADDRINUSE) holds for a taken port, so that main,
// which knows its own DROVER_LISTEN sockets, can say when the port is
// drover's own.
func Listen(addr string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("DROVER_HEALTH_ADDR=%q: want host:port such as :8081, or off: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	var hint string
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = "port " + port + " is already in use by another process; stop it, choose another port, or set DROVER_HEALTH_ADDR=off"
	case errors.Is(err, syscall.EACCES):
		hint = "permission denied; ports below 1024 need CAP_NET_BIND_SERVICE, choose a port such as :8081"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = "no interface has that address; use :" + port + " to listen on every interface"
	default:
		hint = "cannot listen there; use host:port such as :8081, or off"
	}
	return nil, fmt.Errorf("DROVER_HEALTH_ADDR=%q: %s: %w", addr, hint, err)
}

// NewHandler routes the health endpoints. It is what New serves, exposed so
// that main can mount it elsewhere and tests can drive it directly.
func NewHandler(opts Options) http.Handler {
	snap := func(ctx context.Context, q Query) (Snapshot, error) {
		s, err := takeSnapshot(ctx, opts.Source, q, opts.timeout())
		if err != nil {
			opts.logger().Warn("health: no answer from the supervision loop", "err", err)
		}
		return s, err
	}
	live := &checkSet{endpoint: "livez", snapshot: snap, checks: livezChecks()}
	ready := &checkSet{endpoint: "readyz", snapshot: snap, checks: readyzChecks()}

	// Method patterns give GET and HEAD; anything else gets 405 with Allow.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", live.serveAll)
	mux.HandleFunc("GET /livez/{check}", live.serveOne)
	mux.HandleFunc("GET /readyz", ready.serveAll)
	mux.HandleFunc("GET /readyz/{check}", ready.serveOne)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		s, err := snap(r.Context(), Query{Usage: true})
		if err != nil {
			writeText(w, http.StatusServiceUnavailable, err.Error()+"\n")
			return
		}
		body, err := json.MarshalIndent(s.normalized(time.Now(), opts.Names), "", "  ")
		if err != nil { // only reachable with NaN/Inf floats from the Source
			writeText(w, http.StatusInternalServerError, "encoding status: "+err.Error()+"\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(body, '\n'))
	})
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
			// A hung loop must not also hide the Go and process metrics that
			// help explain it: serve what could be gathered, log the rest.
			ErrorHandling: promhttp.ContinueOnError,
			ErrorLog:      slogPrinter{opts.logger()},
		}))
	}
	return mux
}

// takeSnapshot waits at most timeout for src, even if src ignores its
// context: an adapter stuck on a lock the loop holds must still turn into
// a 503, never into a probe that hangs. Such a stuck call leaks one
// goroutine until it returns.
func takeSnapshot(ctx context.Context, src Source, q Query, timeout time.Duration) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		s   Snapshot
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := src.Snapshot(ctx, q)
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return Snapshot{}, fmt.Errorf("supervision loop: %w", r.err)
		}
		return r.s, nil
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Snapshot{}, fmt.Errorf("supervision loop: request ended before it answered: %w", ctx.Err())
		}
		return Snapshot{}, fmt.Errorf("supervision loop did not answer within %s: %w", timeout, ctx.Err())
	}
}

func writeText(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// slogPrinter adapts slog to promhttp's Println-only logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("health: /metrics: " + fmt.Sprint(v...)) }
