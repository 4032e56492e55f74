package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// apiClient talks to the API server as the admin, from inside the
// cluster's namespace: a few REST calls are all the tests need, and they
// are cheap enough to poll every 100 ms where kubectl would cost a process
// each time.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(d *dialer, base string, p *pki) (*apiClient, error) {
	cert, err := tls.LoadX509KeyPair(p.path("admin.crt"), p.path("admin.key"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(p.path("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := &http.Transport{
		DialContext:     d.DialContext,
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool},
		MaxIdleConns:    4,
	}
	return &apiClient{base: base, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

func (a *apiClient) raw(method, path, contentType string, body []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// get decodes GET path into out; anything but 200 is an error.
func (a *apiClient) get(path string, out any) error {
	code, body, err := a.raw(http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("GET %s: %d %s", path, code, strings.TrimSpace(body))
	}
	return json.Unmarshal([]byte(body), out)
}

// status is the part of drover's GET /status the tests read.
type status struct {
	Desired  int  `json:"desired"`
	Ready    int  `json:"ready"`
	Draining bool `json:"draining"`
	CPU      struct {
		Cores   float64 `json:"cores"`
		Source  string  `json:"source"`
		Reason  string  `json:"reason"`
		Changes uint64  `json:"changes"`
	} `json:"cpu"`
	Workers []struct {
		ID       int    `json:"id"`
		Pid      int    `json:"pid"`
		State    string `json:"state"`
		Ready    bool   `json:"ready"`
		Restarts int    `json:"restarts"`
	} `json:"workers"`
}

// httpClient reaches pods and Services from inside the namespace. Every
// request gets a connection of its own, as a new client would: a request
// that fails is never retried on another connection, so a refused or
// reset connection counts as a failure.
func (c *cluster) httpClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: c.dial.DialContext, DisableKeepAlives: true},
		Timeout:   timeout,
	}
}

func (c *cluster) droverStatus(podIP string, port int) (*status, error) {
	resp, err := c.httpClient(2 * time.Second).Get(fmt.Sprintf("http://%s:%d/status", podIP, port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/status: %s %s", resp.Status, b)
	}
	var s status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("/status: %w: %s", err, b)
	}
	return &s, nil
}
