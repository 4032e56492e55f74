package kubelet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	appImage   = "localhost/drover-k8s-e2e-go:test"
	pauseImage = "localhost/drover-k8s-e2e-pause:test"
)

// goBuild builds a static binary of pkg (a directory) into out.
func goBuild(t *testing.T, dir, out string, ldflags string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, b)
	}
}

// binaries builds drover from the repository, the Go example app, the
// sandbox's pause and the runc wrapper.
func binaries(t *testing.T, dir string, b bins) (drover, server, pause, runcwrap string) {
	root, _ := filepath.Abs("../..")
	drover = filepath.Join(dir, "drover")
	server = filepath.Join(dir, "server")
	pause = filepath.Join(dir, "pause")
	runcwrap = filepath.Join(dir, "runcwrap")
	goBuild(t, root, drover, "-X main.version=e2e-kubelet")
	goBuild(t, filepath.Join(root, "examples", "go"), server, "")
	goBuild(t, "pause", pause, "")
	goBuild(t, "runcwrap", runcwrap, "-X main.runc="+b.runc)
	return
}

// importImage builds a FROM scratch image with podman from files (image
// path → host path), moves it into containerd's k8s.io namespace and
// removes it from podman again.
func importImage(t *testing.T, n *node, name string, files map[string]string, entrypoint, cmd string) {
	t.Helper()
	ctx := filepath.Join(n.dir, "image-"+strings.NewReplacer("/", "-", ":", "-").Replace(name))
	os.MkdirAll(ctx, 0o755)
	var cf strings.Builder
	cf.WriteString("FROM scratch\n")
	for dst, src := range files {
		base := filepath.Base(src)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(ctx, base), b, 0o755)
		fmt.Fprintf(&cf, "COPY %s %s\n", base, dst)
	}
	fmt.Fprintf(&cf, "USER 65534:65534\nENTRYPOINT [%q]\n", entrypoint)
	if cmd != "" {
		fmt.Fprintf(&cf, "CMD [%q]\n", cmd)
	}
	os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(cf.String()), 0o644)
	podman := func(args ...string) {
		t.Helper()
		base := []string{"--runtime", n.bin.runc, "--cgroup-manager", "cgroupfs"}
		if out, err := exec.Command(n.bin.podman, append(base, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	podman("build", "-q", "-t", name, ctx)
	archive := filepath.Join(n.dir, filepath.Base(ctx)+".tar")
	podman("save", "--format", "oci-archive", "-o", archive, name)
	podman("rmi", "-f", name)
	n.ctr("images", "import", "--all-platforms", archive)
	if !strings.Contains(n.ctr("images", "ls", "-q"), name) {
		t.Fatalf("%s is not in containerd after the import:\n%s", name, n.ctr("images", "ls"))
	}
}

// droverKnows tells whether the drover binary accepts a DROVER_* variable
// (it refuses unknown ones), from its --help table.
func droverKnows(t *testing.T, drover, name string) bool {
	out, err := exec.Command(drover, "--help").CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("drover --help: %v", err)
	}
	return strings.Contains(string(out), name)
}
