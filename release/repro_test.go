package release

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReproducible builds the release again as another machine would: from
// a copy of the tree at another path, under another host name, time zone
// and umask, and compares every file byte for byte. It shares the Go build
// cache with the first build (DROVER_RELEASE_GOCACHE, else go's own; with
// -trimpath the path is not part of the cache key, so it costs under a
// minute); .ci/run makes the first build into an empty cache, so there a
// cold compile is compared with a cached one.
func TestReproducible(t *testing.T) {
	needRoot(t) // unshare --uts
	git := needCmd(t, "git")
	unshare := needCmd(t, "unshare")
	sde := os.Getenv("SOURCE_DATE_EPOCH")
	if sde == "" {
		out, err := exec.Command(git, "-C", "..", "log", "-1", "--format=%ct").Output()
		if err != nil {
			t.Fatalf("git log: %v (set SOURCE_DATE_EPOCH as for the first build)", err)
		}
		sde = strings.TrimSpace(string(out))
	}
	// The files of the checkout, as they are (tracked and untracked, not
	// ignored): -buildvcs=false keeps git's state out of the binaries.
	list, err := exec.Command(git, "-C", "..", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	src := filepath.Join(t.TempDir(), "elsewhere", "drover")
	for _, f := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		st, err := os.Lstat(filepath.Join("..", f))
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "second")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--uts", "sh", "-c", `hostname drover-second-machine && umask 077 && exec "$@"`, "sh",
		filepath.Join(src, "release", "build"), version, out)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+sde, "TZ=Asia/Tokyo", "TMPDIR="+t.TempDir())
	if c := os.Getenv("DROVER_RELEASE_GOCACHE"); c != "" {
		cmd.Env = append(cmd.Env, "GOCACHE="+c)
	}
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second release/build: %v\n%s", err, b)
	}
	t.Logf("second build in %s", time.Since(start).Round(time.Second))
	first, err := os.ReadFile(artifact(t, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		a, b := lines(first), lines(second)
		for l := range a {
			if !b[l] {
				t.Errorf("first build only: %s", l)
			}
		}
		for l := range b {
			if !a[l] {
				t.Errorf("second build only: %s", l)
			}
		}
	}
}

func lines(b []byte) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		m[l] = true
	}
	return m
}
