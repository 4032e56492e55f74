package compat

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Set once by TestMain before any test runs, only read afterwards.
var (
	repoRoot    string // the repository this suite is in
	binDir      string // holds the drover under test; first in every PATH
	nodeModules string // e2e/compat/node_modules (npm ci)
	docPath     string // docs/languages.md
)

// TestMain builds drover from this checkout, runs the suite and prints the
// numbers each server measured.
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	// Under nohup every drover the tests start would inherit SIGHUP
	// ignored and rightly refuse to reload; a handler here is reset to
	// the default at exec, which is what a container gives drover.
	if signal.Ignored(syscall.SIGHUP) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	nodeModules = filepath.Join(wd, "node_modules")
	docPath = filepath.Join(repoRoot, "docs", "languages.md")
	if binDir, err = os.MkdirTemp("", "drover-compat-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	// A plain build, as a user runs it: the race detector would cost the
	// servers CPU the latency bounds are about.
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "drover"), ".")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building drover:", err)
		return 1
	}
	code := m.Run()
	printResults()
	return code
}

// serverPath is the PATH every drover under test gets: drover first, then
// the system's directories only, so that `python3` is Debian's (which has
// the Debian packages), not a version manager's shim that happens to be
// first in the caller's PATH.
func serverPath() string {
	return binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// debInstalled reports whether dpkg has pkg installed.
func debInstalled(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && strings.HasSuffix(strings.TrimSpace(string(out)), " installed")
}
