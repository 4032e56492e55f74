package health

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestReadyzArithmetic(t *testing.T) {
	for _, m := range []MinReady{pct(50), pct(100), pct(0), pct(34), {N: 0}, {N: 1}, {N: 2}, {N: 5}} {
		spec := spec(m)
		for desired := 1; desired <= 4; desired++ {
			need := m.Of(desired)
			for ready := 0; ready <= desired; ready++ {
				addr := startServer(t, fakeSource{snap: pool(desired, ready, need)})
				r := httpGet(t, addr, "/readyz")
				wantCode := http.StatusServiceUnavailable
				if ready >= need {
					wantCode = http.StatusOK
				}
				if r.code != wantCode {
					t.Errorf("MIN_READY=%s desired=%d ready=%d (need %d): %d, want %d\n%s",
						spec, desired, ready, need, r.code, wantCode, r.body)
				}
				if wantCode != http.StatusOK {
					want := fmt.Sprintf("[-]workers failed: %d of %d workers ready, need %d\n", ready, desired, need)
					if !strings.Contains(r.body, want) {
						t.Errorf("body %q lacks %q", r.body, want)
					}
				}
			}
		}
	}
}

func TestReadyzFormat(t *testing.T) {
	draining := pool(4, 4, 2)
	draining.Draining = true
	reload := pool(2, 0, 2) // slot 1 has an old and a new worker, both ready
	reload.Workers = append(reload.Workers, Worker{ID: 1, Generation: 1, State: "ready", Ready: true},
		Worker{ID: 1, Generation: 2, State: "ready", Ready: true})

	tests := []struct {
		name string
		snap Snapshot
		path string
		code int
		body string
	}{
		{"ok terse", pool(4, 4, 2), "/readyz", 200, "ok"},
		{"ok verbose", pool(4, 2, 2), "/readyz?verbose",
			200, "[+]loop ok\n[+]draining ok\n[+]workers ok\nreadyz check passed\n"},
		{"verbose=false still verbose, as in kube-apiserver", pool(4, 2, 2), "/readyz?verbose=false",
			200, "[+]loop ok\n[+]draining ok\n[+]workers ok\nreadyz check passed\n"},
		{"failure is always verbose", pool(4, 1, 2), "/readyz",
			503, "[+]loop ok\n[+]draining ok\n[-]workers failed: 1 of 4 workers ready, need 2\nreadyz check failed\n"},
		{"draining", draining, "/readyz",
			503, "[+]loop ok\n[-]draining failed: drover is shutting down\n[+]workers ok\nreadyz check failed\n"},
		{"exclude draining", draining, "/readyz?exclude=draining", 200, "ok"},
		{"exclude draining verbose", draining, "/readyz?exclude=draining&verbose",
			200, "[+]loop ok\n[+]draining excluded: ok\n[+]workers ok\nreadyz check passed\n"},
		{"exclude is repeatable", pool(4, 0, 2), "/readyz?exclude=draining&exclude=workers", 200, "ok"},
		{"exclude unknown", pool(1, 1, 1), "/readyz?verbose&exclude=nope&exclude=also",
			200, "[+]loop ok\n[+]draining ok\n[+]workers ok\nwarn: some health checks cannot be excluded: no matches for \"also\",\"nope\"\nreadyz check passed\n"},
		{"one slot counted once during reload", reload, "/readyz",
			503, "[+]loop ok\n[+]draining ok\n[-]workers failed: 1 of 2 workers ready, need 2\nreadyz check failed\n"},
		{"single check failing", pool(4, 1, 2), "/readyz/workers", 503, "[-]workers failed: 1 of 4 workers ready, need 2\n"},
		{"single check passing", pool(4, 1, 2), "/readyz/draining", 200, "ok"},
		{"single draining", draining, "/readyz/draining", 503, "[-]draining failed: drover is shutting down\n"},
		{"unknown check", pool(1, 1, 1), "/readyz/nope", 404, "no readyz check named \"nope\"; checks: loop, draining, workers\n"},
		{"livez ignores dead workers", pool(4, 0, 2), "/livez", 200, "ok"},
		{"livez ignores draining", draining, "/livez", 200, "ok"},
		{"livez verbose", pool(1, 0, 1), "/livez?verbose", 200, "[+]loop ok\nlivez check passed\n"},
		{"livez single", pool(1, 0, 1), "/livez/loop", 200, "ok"},
		{"livez unknown check", pool(1, 0, 1), "/livez/workers", 404, "no livez check named \"workers\"; checks: loop\n"},
		{"unknown path", pool(1, 1, 1), "/healthz", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startServer(t, fakeSource{snap: tt.snap})
			r := httpGet(t, addr, tt.path)
			if r.code != tt.code || r.body != tt.body {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, r.code, r.body, tt.code, tt.body)
			}
			if tt.code != 404 && r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
}

func TestMethods(t *testing.T) {
	addr := startServer(t, fakeSource{snap: pool(1, 1, 1)})
	for _, path := range []string{"/livez", "/readyz", "/readyz/workers", "/status", "/metrics"} {
		if r := do(t, http.MethodHead, addr, path); r.code != 200 || r.body != "" {
			t.Errorf("HEAD %s = %d %q", path, r.code, r.body)
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			r := do(t, m, addr, path)
			if r.code != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") {
				t.Errorf("%s %s = %d, Allow %q; want 405 allowing GET", m, path, r.code, r.header.Get("Allow"))
			}
		}
	}
}

func TestLoopNotAnswering(t *testing.T) {
	deaf := deafSource{release: make(chan struct{})}
	defer close(deaf.release)
	sources := map[string]Source{
		"honours ctx": stuckSource{},
		"ignores ctx": deaf,
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			addr := startServer(t, src)
			start := time.Now()
			r := httpGet(t, addr, "/livez")
			if elapsed := time.Since(start); elapsed > testTimeout+2*time.Second {
				t.Errorf("/livez took %v with a %v timeout", elapsed, testTimeout)
			}
			want := "[-]loop failed: supervision loop did not answer within 100ms: context deadline exceeded\nlivez check failed\n"
			if r.code != 503 || r.body != want {
				t.Errorf("/livez = %d %q, want 503 %q", r.code, r.body, want)
			}
			r = httpGet(t, addr, "/readyz?exclude=loop")
			want = "[+]loop excluded: ok\n" +
				"[-]draining failed: unknown, the supervision loop did not answer\n" +
				"[-]workers failed: unknown, the supervision loop did not answer\n" +
				"readyz check failed\n"
			if r.code != 503 || r.body != want {
				t.Errorf("/readyz = %d %q, want 503 %q", r.code, r.body, want)
			}
			if r := httpGet(t, addr, "/status"); r.code != 503 || !strings.Contains(r.body, "did not answer") {
				t.Errorf("/status = %d %q", r.code, r.body)
			}
		})
	}
}

func TestLoopError(t *testing.T) {
	addr := startServer(t, fakeSource{err: errors.New("loop stopped")})
	r := httpGet(t, addr, "/livez/loop")
	if want := "[-]loop failed: supervision loop: loop stopped\n"; r.code != 503 || r.body != want {
		t.Errorf("/livez/loop = %d %q, want 503 %q", r.code, r.body, want)
	}
}
