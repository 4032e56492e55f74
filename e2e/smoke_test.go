package e2e

// The smoke subset a release binary of another architecture must pass
// under qemu-user. .ci/run runs it against the arm64 release binary:
//
//	DROVER_E2E_BINARY=$out/drover-linux-arm64 go test ./e2e/ -run '^TestSmoke$'
//
// The kernel runs the foreign binary through the qemu-user-static handler
// registered in binfmt_misc, so drover's own children (sh, the test's
// workers) stay native, as they would be in a container of that
// architecture. Against the native binary the same cases run, so the
// subset cannot rot.

import (
	"debug/elf"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// qemuLost are the signals that qemu-user (Debian's qemu-user-static 7.2)
// does not deliver to the guest as themselves: it hands the host's
// real-time signals to the guest shifted down by two (host 37–64 arrive as
// 35–62, and go back up when drover forwards them), so host 35 and 36
// arrive as 33 and 34, which drover leaves to the Go runtime and the C
// library. Everything else a user sends arrives and is forwarded.
// sigRTMax is the highest real-time signal.
const sigRTMax = syscall.Signal(64)

var qemuLost = map[syscall.Signal]bool{35: true, 36: true}

// qemuFatal are the signals this subset does not send under qemu-user at
// all: qemu 7.2 itself dies of SIGSEGV (exit 139) when a SIGILL, SIGFPE or
// SIGSEGV sent by kill(2) arrives close behind another signal. It is
// qemu's, not drover's: a ten-line Go program that only calls
// signal.Notify, sent three SIGILLs in a row, died 12 times in 60 under
// qemu and 0 in 60 natively. Natively the same cases run.
var qemuFatal = map[syscall.Signal]bool{syscall.SIGILL: true, syscall.SIGFPE: true, syscall.SIGSEGV: true}

// qemuCannot names what qemu-user cannot emulate and this subset therefore
// leaves out; the smoke test prints it so that nothing is skipped silently.
const qemuCannot = "not emulated by qemu-user, so not in this subset: " +
	"real-time signals 35 and 36 (qemu maps host real-time signals onto the guest's shifted by two: they arrive as 33 and 34); " +
	"SIGILL, SIGFPE and SIGSEGV sent by kill, which are not sent because qemu 7.2 itself can die of them (exit 139) when they arrive close behind another signal; " +
	"prctl(PR_SET_CHILD_SUBREAPER), which qemu 7.2 refuses with EINVAL, so drover not running as PID 1 does not reap orphans there (drover logs a warning; as PID 1 it does)"

// elfArch is the GOARCH of an ELF executable.
func elfArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_PPC64:
		if f.Data == elf.ELFDATA2LSB {
			return "ppc64le", nil
		}
		return "ppc64", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("%s: unexpected ELF machine %v", path, f.Machine)
}

// qemuHandler is the name of the binfmt_misc entry of Debian's
// qemu-user-static for a GOARCH.
var qemuHandler = map[string]string{"arm64": "aarch64", "arm": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}

func TestSmoke(t *testing.T) {
	arch, err := elfArch(droverBin)
	if err != nil {
		t.Fatal(err)
	}
	foreign := arch != runtime.GOARCH
	if foreign {
		interp, err := binfmtInterpreter(arch)
		if err != nil {
			t.Fatalf("drover is a linux/%s binary and %v: register qemu-user-static's handlers, as .ci/run does", arch, err)
		}
		t.Logf("linux/%s drover, run by %s (binfmt_misc)", arch, interp)
		t.Log(qemuCannot)
	}
	t.Run("exit codes", TestSignalExitCodes)
	t.Run("death by signal", TestDeathBySignalGives128PlusN)
	t.Run("signals", func(t *testing.T) { smokeSignals(t, foreign) })
	t.Run("pool of 2 on a shared socket", TestListenWorkersInEveryLanguageAnswer)
	t.Run("readyz", TestHealthReadyzVerbose)
	t.Run("SIGTERM exits 0", TestTermReachesEveryWorker)
}

// smokeSignals forwards every forwardable signal in plain-init mode and to
// both workers of a pool as PID 1, then stops each with SIGTERM (exit 0).
// Under qemu the signals in qemuLost are sent too, and named if lost.
func smokeSignals(t *testing.T, foreign bool) {
	for _, pool := range []bool{false, true} {
		t.Run(fmt.Sprintf("pool=%v", pool), func(t *testing.T) {
			o := opts{env: []string{"DROVER_STOP_TIMEOUT=60s"}}
			ids := []string{""}
			if pool {
				require(t, "root")
				o = opts{pidns: true, env: []string{"DROVER_WORKERS=2"}}
				ids = []string{"0", "1"}
			}
			d := start(t, o, workerArgs(t, "sig-record")...)
			d.waitLog(`^sig-record \S* ready`, len(ids), 15*time.Second)
			if !pool {
				ids[0] = d.waitLog(`^sig-record (\S*) ready`, 1, time.Second)[1]
			}
			d.realtimeReady(ids...)
			var lost []syscall.Signal
			for _, sig := range forwardable() {
				if foreign && qemuFatal[sig] {
					continue
				}
				if foreign && qemuLost[sig] {
					lost = append(lost, sig)
					continue
				}
				d.forwardOnce(sig, ids...)
			}
			// The lost ones last, then SIGRTMAX: the Go runtime hands
			// pending signals on in increasing order, so once 64 is
			// recorded a 35 or 36 that got through is recorded too.
			for _, sig := range lost {
				d.signal(sig)
			}
			if len(lost) > 0 {
				d.forwardOnce(sigRTMax, ids...)
				for _, sig := range lost {
					if n := d.count(fmt.Sprintf(`^sig-record %s got %d$`, ids[0], int(sig))); n == 0 {
						t.Logf("signal %d not delivered under qemu-user (known: see the smoke test's header)", int(sig))
					} else {
						t.Logf("signal %d delivered under qemu-user after all", int(sig))
					}
				}
			}
			d.stop()
			d.settleLog()
			d.noStackDump()
		})
	}
}
