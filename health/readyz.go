package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// check is one named condition of /livez or /readyz. loopErr is the
// Snapshot error: checks other than "loop" cannot be judged without state.
type check struct {
	name string
	run  func(s Snapshot, loopErr error) error
}

func errNoState() error { return errors.New("unknown, the supervision loop did not answer") }

func loopCheck() check {
	return check{name: "loop", run: func(_ Snapshot, loopErr error) error { return loopErr }}
}

// livezChecks hold only the loop: a dead worker must never fail liveness,
// or Kubernetes would restart the whole pod for what drover already fixes.
func livezChecks() []check { return []check{loopCheck()} }

func readyzChecks() []check {
	return []check{
		loopCheck(),
		{name: "draining", run: func(s Snapshot, loopErr error) error {
			if loopErr != nil {
				return errNoState()
			}
			if s.Draining {
				return errors.New("drover is shutting down")
			}
			return nil
		}},
		{name: "workers", run: func(s Snapshot, loopErr error) error {
			if loopErr != nil {
				return errNoState()
			}
			if n := s.ReadyCount(); n < s.MinReady {
				return fmt.Errorf("%d of %d workers ready, need %d", n, s.Desired, s.MinReady)
			}
			return nil
		}},
	}
}

// checkSet serves one endpoint in the Kubernetes API server's format, so
// that the tooling and habits people have for kube-apiserver apply as is.
type checkSet struct {
	endpoint string // "livez", "readyz"
	snapshot func(context.Context, Query) (Snapshot, error)
	checks   []check
}

// serveAll answers /readyz: "ok" when every check passes; the verbose list
// ending in "readyz check passed|failed" when asked with ?verbose or on any
// failure, so a failing probe always explains itself in the kubelet event.
// ?exclude=NAME (repeatable) skips a check.
func (cs *checkSet) serveAll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, verbose := q["verbose"]
	excluded := make(map[string]bool)
	for _, name := range q["exclude"] {
		excluded[strings.TrimSpace(name)] = true
	}

	s, loopErr := cs.snapshot(r.Context(), Query{})
	var b strings.Builder
	failed := false
	for _, c := range cs.checks {
		if excluded[c.name] {
			delete(excluded, c.name)
			fmt.Fprintf(&b, "[+]%s excluded: ok\n", c.name)
			continue
		}
		if err := c.run(s, loopErr); err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
			continue
		}
		fmt.Fprintf(&b, "[+]%s ok\n", c.name)
	}
	if len(excluded) > 0 {
		unknown := make([]string, 0, len(excluded))
		for name := range excluded {
			unknown = append(unknown, strconv.Quote(name))
		}
		slices.Sort(unknown)
		fmt.Fprintf(&b, "warn: some health checks cannot be excluded: no matches for %s\n", strings.Join(unknown, ","))
	}
	switch {
	case failed:
		writeText(w, http.StatusServiceUnavailable, b.String()+cs.endpoint+" check failed\n")
	case verbose:
		writeText(w, http.StatusOK, b.String()+cs.endpoint+" check passed\n")
	default:
		writeText(w, http.StatusOK, "ok")
	}
}

// serveOne answers /readyz/NAME, for probes that care about one condition.
func (cs *checkSet) serveOne(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("check")
	i := slices.IndexFunc(cs.checks, func(c check) bool { return c.name == name })
	if i < 0 {
		names := make([]string, len(cs.checks))
		for j, c := range cs.checks {
			names[j] = c.name
		}
		writeText(w, http.StatusNotFound, fmt.Sprintf("no %s check named %q; checks: %s\n", cs.endpoint, name, strings.Join(names, ", ")))
		return
	}
	s, loopErr := cs.snapshot(r.Context(), Query{})
	if err := cs.checks[i].run(s, loopErr); err != nil {
		writeText(w, http.StatusServiceUnavailable, fmt.Sprintf("[-]%s failed: %v\n", name, err))
		return
	}
	writeText(w, http.StatusOK, "ok")
}
