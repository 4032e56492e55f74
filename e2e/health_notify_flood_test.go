package e2e

// Issue 17: oversized sd_notify datagrams used to log one warning each
// (1,201 lines from one worker).

import (
	"os"
	"testing"
	"time"
)

// A worker sends 1,201 datagrams too large to accept: one warning while it
// runs, and one line at the end counting the rest.
func TestNotifyFloodIsOneWarning(t *testing.T) {
	bin := argvrec(t)
	d := startHealth(t, []string{"DROVER_WORKERS=1", "DROVER_READY=notify", "ARGV_OUT=" + t.TempDir(),
		"ARGV_FLOOD=1201", "PATH=" + bin + ":" + os.Getenv("PATH")}, "argvrec")
	d.waitStatus("every datagram seen", 20*time.Second, func(s statusDoc) bool {
		return len(s.Workers) == 1 && s.Workers[0].Status == "flooded"
	})
	d.stop()
	if n := d.count(`larger than 8192 bytes`); n != 1 {
		t.Errorf("%d warnings about oversized datagrams, want 1", n)
	}
	if n := d.count(`1200 more dropped messages were not logged`); n != 1 {
		t.Errorf("%d lines counting the unlogged drops, want 1", n)
	}
}
