package threads

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func threadCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// The threads exist after Reserve returns and stay: the runtime keeps
// them idle instead of ending them.
func TestReserveStartsThreadsThatStay(t *testing.T) {
	before := threadCount(t)
	Reserve(12)
	after := threadCount(t)
	if after < before+10 {
		t.Fatalf("threads: %d before, %d after reserving 12", before, after)
	}
	Reserve(0)
	if again := threadCount(t); again < after {
		t.Errorf("reserved threads went away: %d, then %d", after, again)
	}
}
