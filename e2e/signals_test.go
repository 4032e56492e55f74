package e2e

// Signals, as tini's and dumb-init's own test suites check them: every
// catchable signal forwarded unchanged in plain-init mode (drover as PID 1
// and not), every forwardable one reaching every worker of a pool, exit
// codes, the signal state a parent hands down and job control. The
// command-line flags and the terminal are in signals_cli_test.go, a storm
// of signals against a pool in signals_storm_test.go. The workers are the
// sig-record and sigconf modes of signals_worker_test.go.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// forwardable is every signal drover passes on as is in both modes: 1–31
// and the real-time range, minus what it cannot catch (KILL, STOP), keeps
// (CHLD, URG; PROF, which the Go runtime swallows), and what each mode
// gives a meaning (TERM, INT, HUP, TSTP, TTIN, TTOU, CONT: tested apart).
// ABRT, SEGV, ILL, TRAP, BUS, FPE, SYS and STKFLT are among them: sent with
// kill they are ordinary signals, and must neither crash drover nor be lost.
func forwardable() []syscall.Signal {
	skip := map[syscall.Signal]bool{
		unix.SIGKILL: true, unix.SIGSTOP: true, unix.SIGCHLD: true, unix.SIGURG: true, unix.SIGPROF: true,
		unix.SIGTERM: true, unix.SIGINT: true, unix.SIGHUP: true,
		unix.SIGTSTP: true, unix.SIGTTIN: true, unix.SIGTTOU: true, unix.SIGCONT: true,
	}
	var out []syscall.Signal
	for n := 1; n <= 64; n++ {
		if sig := syscall.Signal(n); !skip[sig] && (n <= 31 || n >= 35) {
			out = append(out, sig)
		}
	}
	return out
}

// stackDump matches what the Go runtime prints when a signal kills a Go
// program: PID 1 must never print one.
const stackDump = `goroutine \d+ \[|^SIG[A-Z]+: |PC=0x|^panic: |fatal error`

// recorded waits until the recorder of worker id has logged sig n times.
func (d *drover) recorded(id string, sig syscall.Signal, n int) {
	d.t.Helper()
	d.waitLog(fmt.Sprintf(`^sig-record %s got %d$`, regexp.QuoteMeta(id), int(sig)), n, 15*time.Second)
}

// realtimeReady waits until drover forwards real-time signals to the
// recorders ids. drover subscribes them some 10 ms after it starts and
// drops those that come sooner (README: "A real-time signal sent in
// drover's first 10 ms is not forwarded"), and nothing it says tells when
// it has; a worker may be up sooner. So one is sent again until it
// arrives. The signals sent afterwards each arrive once. It is 37, which
// qemu-user delivers too (smoke_test.go: qemuLost).
func (d *drover) realtimeReady(ids ...string) {
	d.t.Helper()
	const sig = syscall.Signal(37)
	sent := 0
	eventually(d.t, 15*time.Second, fmt.Sprintf("drover to forward real-time signal %d to workers %v", sig, ids), func() (string, bool) {
		arrived := true
		for _, id := range ids {
			arrived = arrived && d.count(fmt.Sprintf(`^sig-record %s got %d$`, regexp.QuoteMeta(id), int(sig))) > 0
		}
		if !arrived {
			d.signal(sig)
			sent++
		}
		return fmt.Sprintf("sent %d times", sent), arrived
	})
}

// forwardOnce sends sig and waits until each recorder ids logged it once
// more.
func (d *drover) forwardOnce(sig syscall.Signal, ids ...string) {
	d.t.Helper()
	want := map[string]int{}
	for _, id := range ids {
		want[id] = d.count(fmt.Sprintf(`^sig-record %s got %d$`, regexp.QuoteMeta(id), int(sig))) + 1
	}
	d.signal(sig)
	for _, id := range ids {
		d.recorded(id, sig, want[id])
	}
}

// waitState waits until every pid is stopped ('T') or, with stopped false,
// none is.
func waitState(t *testing.T, stopped bool, pids ...int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("stopped=%v of %v", stopped, pids), func() ([]string, bool) {
		ok := true
		var got []string
		for _, p := range pids {
			st := procState(p)
			got = append(got, fmt.Sprintf("%d:%c", p, st))
			if (st == 'T') != stopped {
				ok = false
			}
		}
		return got, ok
	})
}

// noStackDump fails the test if drover's output holds a Go stack dump.
func (d *drover) noStackDump() {
	d.t.Helper()
	if n := d.count(stackDump); n > 0 {
		d.t.Errorf("%d lines of a Go stack dump in drover's output", n)
	}
}

// TestSignalForwardPlain is dumb-init's test_proxies_signals and
// test_prints_signals, and tini's signals test: every signal reaches the
// child unchanged (INT as INT, the real-time range, the synchronous-type
// signals sent with kill), drover keeps running through all of them, the
// job-control signals stop drover after the child (unless it is PID 1,
// which cannot be stopped) and CONT resumes both.
func TestSignalForwardPlain(t *testing.T) {
	for _, pidns := range []bool{false, true} {
		t.Run(fmt.Sprintf("pid1=%v", pidns), func(t *testing.T) {
			if pidns {
				require(t, "root")
			}
			d := start(t, opts{pidns: pidns, env: []string{"DROVER_STOP_TIMEOUT=60s"}},
				workerArgs(t, "sig-record")...)
			d.waitLog(`^sig-record \S* ready`, 1, 15*time.Second)
			id := d.waitLog(`^sig-record (\S*) ready`, 1, time.Second)[1]
			d.realtimeReady(id)
			for _, sig := range forwardable() {
				d.forwardOnce(sig, id)
			}
			for i, sig := range []syscall.Signal{unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU} {
				d.signal(sig)
				d.recorded(id, sig, 1)
				if !pidns {
					waitState(t, true, d.pid)
				}
				d.signal(unix.SIGCONT)
				d.recorded(id, unix.SIGCONT, i+1)
				waitState(t, false, d.pid)
			}
			d.signal(unix.SIGINT)
			d.recorded(id, unix.SIGINT, 1)
			if n := d.count(fmt.Sprintf(`^sig-record %s got %d$`, id, unix.SIGTERM)); n != 0 {
				t.Errorf("INT reached the child as TERM")
			}
			d.stopWith(unix.SIGTERM, 0)
			d.settleLog()
			d.recorded(id, unix.SIGTERM, 1)
			d.noStackDump()
		})
	}
}

// TestSignalForwardPool: in pool mode every signal without a meaning of its
// own reaches every worker, HUP too with DROVER_HUP=forward, and so do TSTP
// and CONT (job control is plain mode's).
func TestSignalForwardPool(t *testing.T) {
	require(t, "root")
	d := start(t, opts{pidns: true, env: []string{"DROVER_WORKERS=2", "DROVER_HUP=forward", "DROVER_DRAIN_DELAY=0s"}},
		workerArgs(t, "sig-record")...)
	d.waitLog(`^sig-record \d+ ready`, 2, 15*time.Second)
	d.realtimeReady("0", "1")
	sigs := append(forwardable(), unix.SIGHUP, unix.SIGTSTP, unix.SIGCONT)
	for _, sig := range sigs {
		d.forwardOnce(sig, "0", "1")
	}
	if n := d.count(`worker (exited|stopped|failed)`); n != 0 {
		t.Errorf("%d workers ended while only forwarded signals were sent", n)
	}
	d.stop()
	d.noStackDump()
}

// TestSignalExitCodes is dumb-init's exit_status_test and tini's: drover
// exits with its child's status, 128+n when a signal n killed it, whether it
// sent that signal itself or not.
func TestSignalExitCodes(t *testing.T) {
	for _, code := range []int{0, 1, 2, 32, 64, 127, 254, 255} {
		cmd := command(t, opts{}, "--", "sh", "-c", fmt.Sprintf("exit %d", code))
		if got := exitCode(cmd.Run()); got != code {
			t.Errorf("child exit %d: drover exited %d", code, got)
		}
	}
	for _, sig := range []syscall.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGKILL, unix.SIGUSR1} {
		cmd := command(t, opts{}, "--", "sh", "-c", fmt.Sprintf("kill -%d $$", int(sig)))
		if got := exitCode(cmd.Run()); got != 128+int(sig) {
			t.Errorf("child killed by %v: drover exited %d, want %d", sig, got, 128+int(sig))
		}
	}
	// Forwarded signals the child does not handle end it, and drover
	// reports that, as PID 1 too: SEGV and ABRT sent with kill kill the
	// child, not drover (and no core file is left behind).
	for _, pidns := range []bool{false, true} {
		t.Run(fmt.Sprintf("forwarded/pid1=%v", pidns), func(t *testing.T) {
			for _, sig := range []syscall.Signal{unix.SIGUSR1, unix.SIGTERM, unix.SIGINT, unix.SIGSEGV, unix.SIGABRT} {
				d := start(t, opts{pidns: pidns, shell: "ulimit -c 0"}, "-v", "--", "sleep", "1000")
				d.waitLog(`worker started`, 1, 15*time.Second)
				d.stopWith(sig, 128+int(sig))
				d.noStackDump()
			}
		})
	}
}

// sigMask reads a SigIgn/SigBlk/SigCgt line of /proc/PID/status output.
func sigMask(t *testing.T, out, key string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + key + `:\s*([0-9a-f]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s line in %q", key, out)
	}
	v, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func bits(sigs ...syscall.Signal) uint64 {
	var v uint64
	for _, s := range sigs {
		v |= 1 << (uint(s) - 1)
	}
	return v
}

// TestSignalInheritedConfig is tini's signal configuration test and the
// issue's `nohup` case: what the parent ignored stays ignored for the
// grandchild, nothing else is ignored (drover's own ignore of 32 and 34 is
// not handed on), and the blocked mask reaches it too, except for the
// signals the Go runtime reserves.
func TestSignalInheritedConfig(t *testing.T) {
	for _, pidns := range []bool{false, true} {
		t.Run(fmt.Sprintf("pid1=%v", pidns), func(t *testing.T) {
			if pidns {
				require(t, "root")
			}
			t.Run("ignored", func(t *testing.T) {
				o := opts{pidns: pidns, shell: "trap '' HUP INT TSTP TTIN TTOU"}
				out, err := command(t, o, "--", "grep", "Sig", "/proc/self/status").Output()
				if err != nil {
					t.Fatalf("drover: %v: %s", err, out)
				}
				want := bits(unix.SIGHUP, unix.SIGINT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU)
				if got := sigMask(t, string(out), "SigIgn"); got != want {
					t.Errorf("grandchild SigIgn = %016x, want %016x", got, want)
				}
				out, err = command(t, opts{pidns: pidns}, "--", "grep", "Sig", "/proc/self/status").Output()
				if err != nil {
					t.Fatalf("drover: %v: %s", err, out)
				}
				if got := sigMask(t, string(out), "SigIgn"); got != 0 {
					t.Errorf("grandchild of a parent that ignores nothing: SigIgn = %016x, want 0", got)
				}
			})
			t.Run("blocked", func(t *testing.T) {
				wrap := workerArgs(t, "sigconf", "SIGCONF_IGN=22,2", "SIGCONF_BLK=21,10,40,4,15", "SIGCONF_COVER="+coverDir)
				out, err := command(t, opts{pidns: pidns, wrap: wrap}, "--", "grep", "Sig", "/proc/self/status").Output()
				if err != nil {
					t.Fatalf("drover: %v: %s", err, out)
				}
				if got, want := sigMask(t, string(out), "SigIgn"), bits(unix.SIGTTOU, unix.SIGINT); got != want {
					t.Errorf("grandchild SigIgn = %016x, want %016x", got, want)
				}
				got := sigMask(t, string(out), "SigBlk")
				// TTIN is tini's case; USR1 and a real-time signal are ones
				// drover subscribes to itself.
				kept := bits(unix.SIGTTIN, unix.SIGUSR1, 40)
				// The Go runtime unblocks the signals it reserves (ILL and
				// TERM among them) before main, so drover cannot hand those
				// on: a documented difference from tini (internal/launch).
				reserved := bits(unix.SIGILL, unix.SIGTERM)
				if got&kept != kept {
					t.Errorf("grandchild SigBlk = %016x, want %016x in it", got, kept)
				}
				if extra := got &^ (kept | reserved); extra != 0 {
					t.Errorf("grandchild SigBlk = %016x: %016x was never blocked by the parent", got, extra)
				}
				if got&reserved != reserved {
					t.Logf("as documented, ILL and TERM blocked by the parent are not blocked in the grandchild (SigBlk = %016x)", got)
				}
			})
		})
	}
}

// TestSignalJobControl is dumb-init's shell_background_test: TSTP, TTIN and
// TTOU stop the child's process group and then drover, so a shell sees the
// whole job stop; CONT resumes both. As PID 1 drover cannot be stopped:
// the child is, drover keeps running.
func TestSignalJobControl(t *testing.T) {
	for _, pidns := range []bool{false, true} {
		t.Run(fmt.Sprintf("pid1=%v", pidns), func(t *testing.T) {
			if pidns {
				require(t, "root")
			}
			d := start(t, opts{pidns: pidns}, "-v", "--", "sleep", "1000")
			d.waitLog(`worker started`, 1, 15*time.Second)
			child := d.workerPids()[0][0]
			if pidns {
				child = d.hostPid(child)
			}
			if pg, _ := unix.Getpgid(child); pg != child {
				t.Errorf("child %d is in process group %d, want its own", child, pg)
			}
			for _, sig := range []syscall.Signal{unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU} {
				d.signal(sig)
				if pidns {
					waitState(t, true, child)
					if procState(d.pid) == 'T' {
						t.Errorf("%v stopped drover as PID 1", sig)
					}
				} else {
					waitState(t, true, child, d.pid)
				}
				d.signal(unix.SIGCONT)
				waitState(t, false, child, d.pid)
			}
			d.stopWith(unix.SIGTERM, 128+int(unix.SIGTERM))
			d.noStackDump()
		})
	}
}

// nohup keeps HUP ignored, which in a pool means SIGHUP can never reload:
// drover says so once at start (issue 18), and not when HUP is free.
func TestSignalIgnoredHUPWarns(t *testing.T) {
	const warning = "SIGHUP was ignored when drover started (nohup?) and stays ignored: SIGHUP will not reload the workers"
	for _, tc := range []struct {
		shell string
		env   []string
		want  bool
	}{
		{"trap '' HUP", []string{"DROVER_WORKERS=1", "DROVER_RESTART=on-failure"}, true},
		{"trap '' HUP", []string{"DROVER_WORKERS=1", "DROVER_RESTART=on-failure", "DROVER_HUP=forward"}, false},
		{"true", []string{"DROVER_WORKERS=1", "DROVER_RESTART=on-failure"}, false},
		{"trap '' HUP", nil, false}, // plain init forwards HUP anyway
	} {
		out, err := command(t, opts{shell: tc.shell, env: tc.env}, "--", "true").CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v: %s", tc.shell, tc.env, err, out)
		}
		if got := strings.Count(string(out), warning); got != map[bool]int{true: 1, false: 0}[tc.want] {
			t.Errorf("%s %v: warning %d times:\n%s", tc.shell, tc.env, got, out)
		}
	}
}
