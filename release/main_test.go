package release

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The release under test and the version it was built with, set once by
// TestMain and only read afterwards.
var (
	outDir  string
	version string
)

// TestMain checks the release in DROVER_RELEASE_OUT (built by .ci/run with
// DROVER_RELEASE_VERSION), or builds one with release/build first.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	outDir, version = os.Getenv("DROVER_RELEASE_OUT"), os.Getenv("DROVER_RELEASE_VERSION")
	if outDir != "" {
		if version == "" {
			fmt.Fprintln(os.Stderr, "DROVER_RELEASE_OUT is set: set DROVER_RELEASE_VERSION to the version it was built with")
			return 1
		}
		return m.Run()
	}
	if _, err := exec.LookPath("podman"); err != nil || os.Geteuid() != 0 {
		msg := "release: release/build needs root and podman (.ci/run installs it)"
		if os.Getenv("CI") != "" || os.Getenv("DROVER_E2E_REQUIRE") != "" {
			fmt.Fprintln(os.Stderr, msg)
			return 1
		}
		fmt.Println(msg + "; skipped")
		return 0
	}
	dir, err := os.MkdirTemp("", "drover-release-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	outDir, version = filepath.Join(dir, "out"), "0.0.0"
	build := exec.Command("./build", version, outDir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "release/build:", err)
		return 1
	}
	return m.Run()
}

// target is one architecture of the release and its name in each format.
type target struct {
	goarch  string
	qemu    string // qemu-user's name, "" for this machine's
	variant string // the OCI platform's variant
	deb     string
	rpm     string
	apk     string
}

var targets = []target{
	{goarch: "amd64", qemu: "x86_64", deb: "amd64", rpm: "x86_64", apk: "x86_64"},
	{goarch: "arm64", qemu: "aarch64", deb: "arm64", rpm: "aarch64", apk: "aarch64"},
	{goarch: "arm", qemu: "arm", variant: "v7", deb: "armhf", rpm: "armv7hl", apk: "armv7"},
	{goarch: "ppc64le", qemu: "ppc64le", deb: "ppc64el", rpm: "ppc64le", apk: "ppc64le"},
	{goarch: "s390x", qemu: "s390x", deb: "s390x", rpm: "s390x", apk: "s390x"},
	{goarch: "riscv64", qemu: "riscv64", deb: "riscv64", rpm: "riscv64", apk: "riscv64"},
}

// pkgVersion is version as Debian and RPM (sep "~") or Alpine (sep "_")
// spell it: the pre-release after sep.
func pkgVersion(sep string) string {
	return strings.Replace(version, "-", sep, 1)
}

func (tg target) binary() string { return "drover-linux-" + tg.goarch }
func (tg target) debFile() string {
	return fmt.Sprintf("drover_%s-1_%s.deb", pkgVersion("~"), tg.deb)
}
func (tg target) rpmFile() string {
	return fmt.Sprintf("drover-%s-1.%s.rpm", pkgVersion("~"), tg.rpm)
}
func (tg target) apkFile() string {
	return fmt.Sprintf("drover_%s-r1_%s.apk", pkgVersion("_"), tg.apk)
}

// artifact is the path of a file of the release, failing the test if it
// is missing.
func artifact(t *testing.T, name string) string {
	t.Helper()
	sourcesOnce.Do(readSources)
	p := filepath.Join(outDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the release has no %s: %v", name, err)
	}
	return p
}

// runArch runs a release binary of tg's architecture: directly on this
// machine's, else under qemu-user called by name, so that it does not
// depend on binfmt_misc.
func runArch(t *testing.T, tg target, path string, args ...string) *exec.Cmd {
	t.Helper()
	if tg.goarch == runtime.GOARCH {
		return exec.Command(path, args...)
	}
	qemu := needCmd(t, "qemu-"+tg.qemu+"-static")
	return exec.Command(qemu, append([]string{path}, args...)...)
}

// needCmd finds a program the test needs: a skip on a developer's machine,
// a failure in CI.
func needCmd(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s is not installed (.ci/run installs it)", name)
	}
	return p
}

func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" || os.Getenv("DROVER_E2E_REQUIRE") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "needs root (podman, mounts)")
	}
}

// sourcesOnce makes the first test read what the release is built from.
var sourcesOnce sync.Once

// readSources reads every file the release is built from: `go test` keys
// its cache on the files a test opens, and the build runs in a child
// process (or before the tests, in TestMain) that it cannot see.
func readSources() {
	_ = filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
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
		name := d.Name()
		if name == "go.mod" || name == "go.sum" || name == "README.md" || strings.HasPrefix(path, "../release/") ||
			(strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) {
			_, _ = os.ReadFile(path)
		}
		return nil
	})
}
