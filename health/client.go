package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// clientTimeout applies when the caller's context has no deadline, so that
// `drover probe` in a Docker HEALTHCHECK can never hang on a stuck server.
const clientTimeout = 5 * time.Second

// Probe asks a running drover's /livez or /readyz (name "livez", "readyz",
// or one check such as "readyz/workers") and returns nil on 200. Otherwise
// the error carries the status and the first failed check, which is what
// Docker shows for an unhealthy container. addr is DROVER_HEALTH_ADDR;
// wildcard hosts (":8081", "0.0.0.0:8081", "[::]:8081") are dialled on
// 127.0.0.1.
func Probe(ctx context.Context, addr, name string) error {
	name = strings.TrimPrefix(name, "/")
	code, body, err := get(ctx, addr, "/"+name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s: %d %s: %s", name, code, http.StatusText(code), summaryLine(body))
	}
	return nil
}

// FetchStatus reads a running drover's /status, for `drover status`.
func FetchStatus(ctx context.Context, addr string) (Snapshot, error) {
	code, body, err := get(ctx, addr, "/status")
	if err != nil {
		return Snapshot{}, fmt.Errorf("status: %w", err)
	}
	if code != http.StatusOK {
		return Snapshot{}, fmt.Errorf("status: %d %s: %s", code, http.StatusText(code), summaryLine(body))
	}
	var s Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return Snapshot{}, fmt.Errorf("status: decoding the answer of %s: %w", addr, err)
	}
	return s, nil
}

// DialAddr turns a listen address into one to connect to: a server bound to
// every interface is reachable on loopback, which also works when the pod's
// network allows nothing else.
func DialAddr(addr string) (string, error) {
	if addr == "off" {
		return "", fmt.Errorf("the health server is off (DROVER_HEALTH_ADDR=off)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("DROVER_HEALTH_ADDR=%q: want host:port such as :8081: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func get(ctx context.Context, addr, path string) (int, []byte, error) {
	hostport, err := DialAddr(addr)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, clientTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostport+path, nil)
	if err != nil {
		return 0, nil, err
	}
	// A probe of our own container never goes through HTTP_PROXY.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer of %s: %w", hostport, err)
	}
	return resp.StatusCode, body, nil
}

// summaryLine picks the line worth showing from an error body: the first
// failed check of a verbose /readyz list, else the first line.
func summaryLine(body []byte) string {
	first := ""
	for line := range strings.SplitSeq(string(body), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[-]") {
			return line
		}
		if first == "" {
			first = line
		}
	}
	if first == "" {
		return "(empty body)"
	}
	return first
}
