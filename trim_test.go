package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// The test binary's own start-up pages go away like drover's, and the
// process keeps running: what it still needs faults back in.
func TestTrimStartupPages(t *testing.T) {
	before := rssFileKB(t)
	trimStartupPages()
	after := rssFileKB(t)
	if after >= before {
		t.Fatalf("RssFile %d kB before, %d kB after: nothing dropped", before, after)
	}
	t.Logf("RssFile %d kB -> %d kB", before, after)
}
