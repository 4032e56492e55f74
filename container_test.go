package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The whole thing in a real container (podman + runc): drover as the
// container's PID 1, its CPU limit set by the runtime, stopped by the
// runtime. The image is the Dockerfile's last stage; the host's /bin, /lib
// and /lib64 are mounted read-only so the workers have a shell.

var image struct {
	once sync.Once
	name string
	err  string
}

func podman(args ...string) *exec.Cmd {
	// This sandbox (and CI's) lacks CAP_SYS_RESOURCE, so the runtime may
	// only lower rlimits, never raise them to podman's defaults.
	base := []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}
	return exec.Command("podman", append(base, args...)...)
}

func containerImage(t *testing.T) string {
	t.Helper()
	needRoot(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (apt-get install podman runc)")
	}
	image.once.Do(func() {
		dir, err := os.MkdirTemp("", "drover-image-")
		if err != nil {
			image.err = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "drover"), ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			image.err = "static build: " + err.Error() + ": " + string(out)
			return
		}
		b, _ := os.ReadFile("testdata/container/Containerfile")
		os.WriteFile(filepath.Join(dir, "Containerfile"), b, 0o644)
		image.name = "localhost/drover-test:" + time.Now().Format("20060102150405")
		if out, err := podman("build", "-q", "-t", image.name, dir).CombinedOutput(); err != nil {
			image.err = "podman build: " + err.Error() + ": " + string(out)
		}
	})
	if image.err != "" {
		t.Fatal(image.err)
	}
	return image.name
}

// container runs drover in a container and collects its log.
type container struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	done chan struct{}
	code int
}

func runContainer(t *testing.T, runArgs []string, args ...string) *container {
	img := containerImage(t)
	c := &container{t: t, name: "drover-test-" + strings.ReplaceAll(t.Name(), "/", "-"), done: make(chan struct{})}
	podman("rm", "-f", c.name).Run()
	argv := append([]string{"run", "--rm", "--name", c.name,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
		"-v", "/bin:/bin:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"}, runArgs...)
	c.cmd = podman(append(append(argv, img), args...)...)
	r, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout = os.Stdout
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			c.mu.Lock()
			c.log = append(c.log, sc.Text())
			c.mu.Unlock()
		}
		c.code = exitCode(c.cmd.Wait())
		close(c.done)
	}()
	t.Cleanup(func() {
		podman("rm", "-f", "-t", "0", c.name).Run()
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			c.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("container log:\n%s", strings.Join(c.lines(), "\n"))
		}
	})
	return c
}

func (c *container) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *container) waitLog(re string, timeout time.Duration) string {
	c.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, l := range c.lines() {
			if rx.MatchString(l) {
				return l
			}
		}
		select {
		case <-c.done:
			for _, l := range c.lines() {
				if rx.MatchString(l) {
					return l
				}
			}
			c.t.Fatalf("container exited (%d) before a log line matched %q", c.code, re)
		case <-time.After(20 * time.Millisecond): // polling the collected lines
		}
	}
	c.t.Fatalf("no log line matched %q within %s", re, timeout)
	return ""
}

func (c *container) wait(timeout time.Duration) int {
	c.t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(timeout):
		c.t.Fatalf("container did not exit within %s", timeout)
		return -1
	}
}

// --cpus 1.5 on a machine with more CPUs: drover, as the container's PID 1,
// starts 2 workers and says it read the runtime's quota. podman stop
// (SIGTERM) ends it with 0.
func TestContainerSizesPoolFromCPULimit(t *testing.T) {
	c := runContainer(t, []string{"--cpus", "1.5", "-e", "DROVER_WORKERS=auto"}, "sh", "-c", "exec sleep 1000")
	line := c.waitLog(`workers: cpu budget`, 30*time.Second)
	t.Logf("%s", line)
	if !strings.Contains(line, "2 workers: cpu budget 1.5 (cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu") &&
		!strings.Contains(line, "2 workers: cpu budget 1.5 (cgroup v2 cpu.max 150000 100000 at /sys/fs/cgroup") {
		t.Errorf("sizing line %q, want 2 workers from the 1.5 CPU quota", line)
	}
	c.waitLog(`worker started worker=1 `, 10*time.Second)
	if out, err := podman("stop", "-t", "10", c.name).CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v: %s", err, out)
	}
	if code := c.wait(20 * time.Second); code != 0 {
		t.Errorf("container exited %d after podman stop, want 0", code)
	}
}

// As a plain init in a container drover exits with the command's status.
func TestContainerPlainInitPassesExitStatus(t *testing.T) {
	c := runContainer(t, nil, "sh", "-c", "exit 7")
	if code := c.wait(30 * time.Second); code != 7 {
		t.Errorf("container exited %d, want the command's 7", code)
	}
}
