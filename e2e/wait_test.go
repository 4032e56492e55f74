package e2e

// Waiting for what has no event to wait on. A log line (d.waitLog), a
// process exit (d.wait) and a file read (watchReads) wake the test when
// they happen; /proc, files, cgroup counters and HTTP answers do not, so
// the test asks again until they say what it waits for. Both kinds are
// bounded, and a wait that times out says what it waited for and what it
// saw last.

import (
	"fmt"
	"testing"
	"time"
)

// pollEvery is how often eventually and throughout ask again. Short
// against every timeout in the suite, long enough that a poll loop costs
// a loaded 2-core machine nothing.
const pollEvery = 10 * time.Millisecond

// eventually asks try every pollEvery until it reports true, and returns
// the value of that call. After timeout the test fails, naming what it
// waited for and the last value try returned. try may fail the test
// itself (with t.Fatal) when waiting on makes no sense any more.
func eventually[T any](t testing.TB, timeout time.Duration, what string, try func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, ok := try()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, seen(v))
		}
		time.Sleep(pollEvery)
	}
}

// throughout asks check every pollEvery for the duration and fails the
// test at the first false, naming what should have held and the value
// that broke it. It returns how many times it asked.
func throughout[T any](t testing.TB, duration time.Duration, what string, check func() (T, bool)) int {
	t.Helper()
	end := time.Now().Add(duration)
	n := 0
	for ; n == 0 || time.Now().Before(end); n++ {
		if v, ok := check(); !ok {
			t.Fatalf("%s stopped holding after %d checks: %s", what, n, seen(v))
		}
		time.Sleep(pollEvery)
	}
	return n
}

// seen formats a value for a failure message: strings quoted, so that an
// empty file or answer shows as "".
func seen(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []byte:
		return fmt.Sprintf("%q", v)
	case error:
		return v.Error()
	}
	return fmt.Sprintf("%+v", v)
}
