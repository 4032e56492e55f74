package health_test

import (
	"context"
	"fmt"
	"time"

	"github.com/drover-init/drover/health"
)

// pool is a Source: what the supervision loop answers for each probe.
type pool struct{ ready bool }

func (p pool) Snapshot(context.Context, health.Query) (health.Snapshot, error) {
	return health.Snapshot{Desired: 1, MinReady: 1, Workers: []health.Worker{{ID: 0, Ready: p.ready}}}, nil
}

// The probe client is what `drover probe readyz` runs in a HEALTHCHECK; a Go
// program asks a running drover the same way. The server binds at New, so a
// taken port fails at start; Serve and Shutdown are a run group's pair.
func ExampleProbe() {
	for _, ready := range []bool{true, false} {
		srv, err := health.New(health.Options{Addr: "127.0.0.1:0", Source: pool{ready}})
		if err != nil {
			fmt.Println(err)
			return
		}
		go srv.Serve()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = health.Probe(ctx, srv.Addr().String(), "readyz")
		fmt.Println("ready:", ready, "probe:", err == nil)
		srv.Shutdown(ctx)
		cancel()
	}
	// Output:
	// ready: true probe: true
	// ready: false probe: false
}
