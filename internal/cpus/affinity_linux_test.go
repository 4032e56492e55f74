package cpus

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestAffinityMatchesKernel(t *testing.T) {
	n, err := Affinity()
	if err != nil {
		t.Fatal(err)
	}
	// unix.SchedGetaffinity stops at 1024 CPUs; below that both must agree.
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if want := set.Count(); n != want {
		t.Errorf("Affinity() = %d, sched_getaffinity says %d", n, want)
	}
	if n < 1 {
		t.Errorf("Affinity() = %d", n)
	}
}

// TestAffinityFollowsMask pins a thread to a single CPU: the count must
// follow the mask, not the host.
func TestAffinityFollowsMask(t *testing.T) {
	var n int
	var err, setErr error
	runLocked(func() {
		var old, one unix.CPUSet
		if setErr = unix.SchedGetaffinity(0, &old); setErr != nil {
			return
		}
		for i := 0; i < 1024; i++ {
			if old.IsSet(i) {
				one.Set(i)
				break
			}
		}
		if setErr = unix.SchedSetaffinity(0, &one); setErr != nil {
			return
		}
		n, err = Affinity()
	})
	if setErr != nil {
		t.Skipf("cannot change affinity: %v", setErr)
	}
	if n != 1 || err != nil {
		t.Errorf("pinned to one CPU: Affinity() = %d, %v", n, err)
	}
}
