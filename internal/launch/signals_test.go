package launch

import (
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// Signals ignored by drover's parent stay ignored in drover's workers, both
// started directly and through the exec shim, as long as main does not
// subscribe to them; a blocked mask reaches them too. The helper is started
// the way a user would: a shell that ignores signals and execs it, here
// after a helper that blocks USR1 and USR2.
func TestInheritedSignalsReachWorkers(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(sh, "-c", `trap '' HUP INT QUIT TSTP USR1; exec "$0"`, self(t))
	cmd.Env = append(os.Environ(), "LAUNCH_TEST_HELPER=block-exec")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		lines[k] = v
	}
	// HUP, INT and TSTP are visible; QUIT and USR1 are not, because the Go
	// runtime replaced their inherited SIG_IGN before main (documented).
	if got := lines["ignored"]; got != "1 2 20" {
		t.Errorf("InheritedSignals().Ignored = %q, want \"1 2 20\"", got)
	}
	wantIgn := uint64(1<<0 | 1<<1 | 1<<19) // HUP INT TSTP
	wantBlk := uint64(1<<9 | 1<<11)        // USR1 USR2
	for _, k := range []string{"direct", "shim"} {
		f := strings.Fields(lines[k])
		if len(f) != 2 {
			t.Errorf("%s worker: %q", k, lines[k])
			continue
		}
		ign, _ := strconv.ParseUint(f[0], 16, 64)
		blk, _ := strconv.ParseUint(f[1], 16, 64)
		if ign&wantIgn != wantIgn {
			t.Errorf("%s worker SigIgn %016x, want %016x set", k, ign, wantIgn)
		}
		if blk&wantBlk != wantBlk {
			t.Errorf("%s worker SigBlk %016x, want %016x set", k, blk, wantBlk)
		}
	}
}

// blockExecHelper blocks USR1 and USR2 and becomes the signals helper, so
// that helper starts with a blocked mask as a process of a user would.
func blockExecHelper() int {
	runtime.LockOSThread()
	set := uint64(1<<(syscall.SIGUSR1-1) | 1<<(syscall.SIGUSR2-1))
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 0 /* SIG_BLOCK */, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	env := []string{"LAUNCH_TEST_HELPER=signals"} // syscall.Exec keeps duplicates, and getenv reads the first
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LAUNCH_TEST_HELPER=") {
			env = append(env, kv)
		}
	}
	err := syscall.Exec("/proc/self/exe", os.Args[:1], env)
	os.Stdout.WriteString("exec: " + err.Error() + "\n")
	return 1
}

// signalsHelper does what main does (InheritedSignals first, then subscribe
// to the rest) and reports what its workers see.
func signalsHelper() int {
	in := InheritedSignals()
	var all []os.Signal
	for s := syscall.Signal(1); s <= 31; s++ {
		if userSignal(s) {
			all = append(all, s)
		}
	}
	signal.Notify(make(chan os.Signal, 64), in.Filter(all)...)
	var nums []string
	for _, s := range in.Ignored {
		nums = append(nums, strconv.Itoa(int(s)))
	}
	os.Stdout.WriteString("ignored: " + strings.Join(nums, " ") + "\n")
	for _, c := range []struct {
		name string
		x    *Exec
	}{
		{"direct", &Exec{Path: "/bin/sh"}},
		{"shim", &Exec{Path: "/bin/sh", Shim: "/proc/self/exe", PidVars: []string{"LISTEN_PID"}}},
	} {
		r, w, _ := os.Pipe()
		c.x.Args = []string{"sh", "-c", `sed -n 's/^Sig\(Ign\|Blk\):\t*//p' /proc/self/status | tr '\n' ' '`}
		c.x.Stdout = w
		p, err := c.x.Start([]string{"PATH=/usr/bin:/bin"}, nil)
		w.Close()
		if err != nil {
			os.Stdout.WriteString(c.name + ": " + err.Error() + "\n")
			continue
		}
		b := make([]byte, 200)
		n, _ := r.Read(b)
		r.Close()
		var ws syscall.WaitStatus
		syscall.Wait4(p.Pid, &ws, 0, nil)
		f := strings.Fields(string(b[:n])) // SigBlk comes first in status
		if len(f) == 2 {
			f[0], f[1] = f[1], f[0]
		}
		os.Stdout.WriteString(c.name + ": " + strings.Join(f, " ") + "\n")
	}
	return 0
}

func TestInheritedFromFake(t *testing.T) {
	in := inheritedSignals(func(s syscall.Signal) (uintptr, error) {
		switch s {
		case syscall.SIGHUP, syscall.SIGTTOU, 33:
			return sigIgn, nil
		case syscall.SIGINT:
			return 0, syscall.EINVAL
		}
		return 0, nil
	})
	if len(in.Ignored) != 2 || in.Ignored[0] != syscall.SIGHUP || in.Ignored[1] != syscall.SIGTTOU {
		t.Errorf("Ignored = %v, want [HUP TTOU] (33 is the runtime's)", in.Ignored)
	}
	got := in.Filter([]os.Signal{syscall.SIGHUP, syscall.SIGTERM, os.Interrupt, syscall.SIGTTOU})
	if len(got) != 2 || got[0] != syscall.SIGTERM || got[1] != os.Interrupt {
		t.Errorf("Filter = %v, want [TERM INT]", got)
	}
}
