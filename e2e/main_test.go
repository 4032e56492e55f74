package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The binary under test and where its coverage counters go; both are set
// once by TestMain before any test runs and only read afterwards.
var (
	droverBin string
	coverDir  string
)

// TestMain either acts as a worker (see worker_test.go) or builds drover
// with -cover, runs the tests, and reports how much of drover they reached.
func TestMain(m *testing.M) {
	if mode := os.Getenv(workerEnv); mode != "" {
		os.Exit(workerMain(mode))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// Under nohup every drover the tests start would inherit SIGHUP
	// ignored and rightly refuse to reload; a handler here is reset to
	// the default at exec, which is what a container gives drover.
	if signal.Ignored(syscall.SIGHUP) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	}
	if err := checkRequireList(os.Getenv(requireEnv)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// DROVER_E2E_BINARY runs the tests (usually a -run subset) against a
	// prebuilt drover, such as a release binary of another architecture
	// under qemu-user: nothing is built and no coverage is collected.
	if bin := os.Getenv("DROVER_E2E_BINARY"); bin != "" {
		var err error
		if droverBin, err = filepath.Abs(bin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "drover-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	droverBin = filepath.Join(dir, "drover")
	// The coverage directory must be writable by every drover process,
	// including the exec shim running as DROVER_USER, so it is not under
	// dir, which only root may enter.
	coverDir = os.Getenv("E2E_COVERDIR")
	if coverDir == "" {
		if coverDir, err = os.MkdirTemp("", "drover-e2e-cover-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(coverDir)
	} else if err := os.MkdirAll(coverDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Chmod(coverDir, 0o1777); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// -cover instruments every package of the module, not only main; the
	// race detector follows the test binary so a race in drover fails the
	// suite the same way a race in a unit test does.
	args := []string{"build", "-cover", "-o", droverBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building drover:", err)
		return 1
	}
	code := m.Run()
	reportCoverage(dir)
	return code
}

// sourcesOnce makes the first test that runs drover read its sources.
var sourcesOnce sync.Once

// readSources reads every file drover is built from. The test binary
// imports nothing of drover, so without this `go test` would serve a cached
// result after drover's code changed: it keys its cache on the files a test
// opens (from inside a test; TestMain's own reads are not seen), and the
// build runs in a child process it cannot see.
func readSources(root string) {
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "e2e", "bench", "helm", "examples", "testdata", "docs":
				return filepath.SkipDir
			}
			return nil
		}
		if name := d.Name(); name == "go.mod" || name == "go.sum" || (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) {
			if b, err := os.ReadFile(path); err == nil {
				_ = b
			}
		}
		return nil
	})
}

// reportCoverage prints the per-package and total statement coverage the
// drover processes wrote while the tests ran. Counters are written when a
// process exits through os.Exit or returns from main; a drover killed with
// SIGKILL writes none, which is why the harness stops every drover with
// SIGTERM first.
func reportCoverage(tmp string) {
	out, err := exec.Command("go", "tool", "covdata", "percent", "-i", coverDir).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: no black-box coverage: %v: %s\n", err, out)
		return
	}
	fmt.Printf("black-box coverage of drover (GOCOVERDIR=%s):\n%s", coverDir, out)
	profile := filepath.Join(tmp, "cover.txt")
	if out, err := exec.Command("go", "tool", "covdata", "textfmt", "-i", coverDir, "-o", profile).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: covdata textfmt: %v: %s\n", err, out)
		return
	}
	fn := exec.Command("go", "tool", "cover", "-func", profile)
	fn.Dir = ".."
	out, err = fn.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cover -func: %v: %s\n", err, out)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	fmt.Printf("black-box coverage of drover, all packages: %s\n", strings.Join(strings.Fields(lines[len(lines)-1])[1:], " "))
}
