package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

const (
	appImage   = "localhost/drover-e2e-go:test"
	pauseImage = "localhost/drover-e2e-pause:test"
)

// goBuild builds the static binary of the package in dir into out.
func goBuild(dir, out, ldflags string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", dir, err, b)
	}
	return nil
}

// repo is the repository root, from this package's directory.
func repo() string {
	r, _ := filepath.Abs("../..")
	return r
}

// buildRuncwrap builds the runc that containerd runs: on these machines
// runc cannot write oom_score_adj or raise rlimits, and the wrapper from
// e2e/kubelet drops both from the bundle first.
func (c *cluster) buildRuncwrap() error {
	return goBuild(filepath.Join(repo(), "e2e", "kubelet", "runcwrap"), c.path("images", "runcwrap"), "-X main.runc="+c.bin.runc)
}

// images builds drover from this checkout, the Go example and the pause
// program of e2e/kubelet, and imports them into containerd as FROM scratch
// images (no registry is reachable).
func (c *cluster) images() error {
	dir := c.path("images")
	drover, server, pause := filepath.Join(dir, "drover"), filepath.Join(dir, "server"), filepath.Join(dir, "pause")
	for _, b := range []struct{ dir, out, ld string }{
		{repo(), drover, "-X main.version=e2e-cluster"},
		{filepath.Join(repo(), "examples", "go"), server, ""},
		{filepath.Join(repo(), "e2e", "kubelet", "pause"), pause, ""},
	} {
		if err := goBuild(b.dir, b.out, b.ld); err != nil {
			return err
		}
	}
	if err := c.importImage(pauseImage, map[string]string{"/pause": pause}, "/pause", ""); err != nil {
		return err
	}
	return c.importImage(appImage, map[string]string{"/usr/local/bin/drover": drover, "/app/server": server}, "/usr/local/bin/drover", "/app/server")
}

// importImage builds a FROM scratch image with podman from files (image
// path → host path), moves it into containerd's k8s.io namespace and
// removes it from podman again.
func (c *cluster) importImage(name string, files map[string]string, entrypoint, cmd string) error {
	ctx := c.path("images", "ctx-"+strings.NewReplacer("/", "-", ":", "-").Replace(name))
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		return err
	}
	var cf strings.Builder
	cf.WriteString("FROM scratch\n")
	dsts := make([]string, 0, len(files))
	for dst := range files {
		dsts = append(dsts, dst)
	}
	sort.Strings(dsts)
	for _, dst := range dsts {
		b, err := os.ReadFile(files[dst])
		if err != nil {
			return err
		}
		base := filepath.Base(files[dst])
		if err := os.WriteFile(filepath.Join(ctx, base), b, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(&cf, "COPY %s %s\n", base, dst)
	}
	fmt.Fprintf(&cf, "USER 65534:65534\nENTRYPOINT [%q]\n", entrypoint)
	if cmd != "" {
		fmt.Fprintf(&cf, "CMD [%q]\n", cmd)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(cf.String()), 0o644); err != nil {
		return err
	}
	podman := func(args ...string) error {
		base := []string{"--runtime", c.bin.runc, "--cgroup-manager", "cgroupfs"}
		if out, err := exec.Command(c.bin.podman, append(base, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	archive := ctx + ".tar"
	if err := podman("build", "-q", "-t", name, ctx); err != nil {
		return err
	}
	err := podman("save", "--format", "oci-archive", "-o", archive, name)
	if rmErr := podman("rmi", "-f", name); err == nil {
		err = rmErr
	}
	if err != nil {
		return err
	}
	if _, err := c.ctr("images", "import", "--all-platforms", archive); err != nil {
		return err
	}
	out, err := c.ctr("images", "ls", "-q")
	if err != nil || !strings.Contains(out, name) {
		return fmt.Errorf("%s is not in containerd after the import: %v\n%s", name, err, out)
	}
	return nil
}
