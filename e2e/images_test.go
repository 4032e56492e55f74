package e2e

// The images a newcomer builds: the repository's Dockerfile and
// examples/*/Dockerfile, each built with podman exactly as written and run
// with --cpus 1.5. This machine reaches no registry, so the public base
// images are replaced, through the Dockerfiles' own build args (GO_IMAGE,
// NODE_IMAGE, PYTHON_IMAGE, DROVER_IMAGE), by stand-ins made from this
// host's programs. Everything the Dockerfiles add on top of their base —
// the build stages, COPY paths, ENV, USER, ENTRYPOINT and CMD — is what runs.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// imageTag makes every image and container name of one run unique, so
// parallel runs and leftovers of a crashed run never collide.
type imageTag string

func (tag imageTag) image(what string) string {
	return "localhost/drover-images-" + what + ":" + string(tag)
}

// podmanRun runs one podman command to completion within timeout and
// returns its output, failing the test if it fails.
func podmanRun(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := podmanArgs(args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// removeImage removes name when the test ends, if it is still there (see
// droverImage).
func removeImage(t *testing.T, name string) {
	t.Cleanup(func() {
		if out, err := podman("rmi", "-f", "-i", name).CombinedOutput(); err != nil {
			t.Errorf("podman rmi %s: %v: %s", name, err, out)
		}
	})
}

// buildImage runs podman build on a directory of the repository with the
// given build args and extra options, as the image tag.image(what).
func buildImage(t *testing.T, tag imageTag, what, dir string, buildArgs []string, extra ...string) string {
	t.Helper()
	name := tag.image(what)
	// --pull=never: every FROM must be a local stand-in; --layers=false:
	// no cached intermediate images are left behind.
	args := []string{"build", "-q", "--pull=never", "--layers=false", "-t", name}
	for _, a := range buildArgs {
		args = append(args, "--build-arg", a)
	}
	args = append(append(args, extra...), repoFile(dir))
	start := time.Now()
	podmanRun(t, 10*time.Minute, args...)
	removeImage(t, name)
	t.Logf("built %s from %s in %s", name, dir, time.Since(start).Round(time.Millisecond))
	return name
}

// TestExampleImages builds the drover image from the repository's
// Dockerfile and each example on top of it, and runs each example as the
// README says: `podman run --cpus 1.5 -p 8080:8080 -p 8081:8081 IMAGE`
// (on free loopback ports here). No image or container survives the test.
func TestExampleImages(t *testing.T) {
	require(t, "root", "podman", "ldd")
	tag := imageTag(fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()))
	// Registered first, so it runs after every removal: nothing of this
	// run may be left in podman's store.
	t.Cleanup(func() {
		out, err := podman("images", "-a", "--format", "{{.Repository}}:{{.Tag}}").Output()
		if err != nil {
			t.Errorf("podman images: %v", err)
		}
		for _, l := range strings.Fields(string(out)) {
			if strings.HasSuffix(l, ":"+string(tag)) {
				t.Errorf("image %s was left behind", l)
			}
		}
	})
	golang := goBase(t, tag)
	mounts := goBuildMounts(t)
	t.Run("Drover", func(t *testing.T) {
		drover := droverImage(t, tag, "drover", golang, mounts)
		if out := strings.TrimSpace(podmanRun(t, time.Minute, "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
			drover, "--version")); out != "drover e2e-images" {
			t.Errorf("drover --version in the image says %q, want the VERSION build arg", out)
		}
		if u := strings.TrimSpace(podmanRun(t, time.Minute, "inspect", "-f", "{{.Config.User}}", drover)); u != "65534:65534" {
			t.Errorf("drover image runs as %q, want 65534:65534 (non-root)", u)
		}
	})
	t.Run("Node", func(t *testing.T) {
		drover := droverImage(t, tag, "drover-for-node", golang, mounts)
		img := buildImage(t, tag, "node", "examples/node", []string{"NODE_IMAGE=" + nodeBase(t, tag), "DROVER_IMAGE=" + drover})
		runExample(t, tag, img, "1000:1000")
	})
	t.Run("Python", func(t *testing.T) {
		drover := droverImage(t, tag, "drover-for-python", golang, mounts)
		img := buildImage(t, tag, "python", "examples/python", []string{"PYTHON_IMAGE=" + pythonBase(t, tag), "DROVER_IMAGE=" + drover})
		runExample(t, tag, img, "65534:65534")
	})
	t.Run("Go", func(t *testing.T) {
		drover := droverImage(t, tag, "drover-for-go", golang, mounts)
		img := buildImage(t, tag, "go", "examples/go", []string{"GO_IMAGE=" + golang, "DROVER_IMAGE=" + drover}, mounts...)
		runExample(t, tag, img, "65534:65534")
	})
}

// droverImage builds the repository's Dockerfile on the Go stand-in. Each
// example gets its own copy: with --layers=false (which buildImage needs
// so that no intermediate image outlives the build) podman 4.3's build
// deletes the image of a stage that is only a FROM, which is what the
// examples' `FROM ${DROVER_IMAGE} AS drover` is. A newcomer's build
// (--layers by default) keeps it.
func droverImage(t *testing.T, tag imageTag, what, golang string, mounts []string) string {
	t.Helper()
	return buildImage(t, tag, what, ".", []string{"GO_IMAGE=" + golang, "VERSION=e2e-images"}, mounts...)
}

// runExample runs img with --cpus 1.5 and its two ports published, and
// checks what the newcomer is promised: 2 workers sized from the CPU
// limit, /readyz 200 on the health port, answers from 2 worker pids on the
// app port, and podman stop ending drover with 0.
func runExample(t *testing.T, tag imageTag, img, user string) {
	if u := strings.TrimSpace(podmanRun(t, time.Minute, "inspect", "-f", "{{.Config.User}}", img)); u != user {
		t.Errorf("image runs as %q, want %s", u, user)
	}
	app, health := freeAddr(t), freeAddr(t)
	name := "drover-images-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + string(tag)
	run := podmanArgs("run", "--rm", "--name", name, "--cpus", "1.5",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
		"-p", app+":8080", "-p", health+":8081", img)
	d := start(t, opts{container: run})
	// After start's cleanup in order, so it runs first.
	t.Cleanup(func() { _ = podman("rm", "-f", "-t", "0", name).Run() })
	line := d.waitLog(`\d+ workers?: cpu budget.*`, 1, time.Minute)[0]
	t.Logf("%s", line)
	if !strings.Contains(line, "2 workers: cpu budget 1.5 (cgroup v1 quota 150000/100000") &&
		!strings.Contains(line, "2 workers: cpu budget 1.5 (cgroup v2 cpu.max 150000 100000") {
		t.Errorf("sizing line %q, want 2 workers from --cpus 1.5", line)
	}
	code, body := waitReadyz(t, d, "http://"+health+"/readyz?verbose", time.Minute)
	t.Logf("/readyz?verbose: %d %q", code, body)
	seen := distinctPids(t, "tcp://"+app, 2)
	t.Logf("answers per pid %v", seen)
	// Every pid that answered is one drover started (its log may come
	// after the worker's first answers).
	for pid := range seen {
		d.waitLog(`worker started worker=\d+ pid=`+pid+`( |$)`, 1, 10*time.Second)
	}
	stop := time.Now()
	podmanRun(t, time.Minute, "stop", "-t", "30", name)
	if code := d.wait(time.Minute); code != 0 {
		t.Errorf("container exited %d after podman stop, want 0", code)
	}
	t.Logf("podman stop took %s (the image sets DROVER_DRAIN_DELAY=5s)", time.Since(stop).Round(time.Millisecond))
}

// waitReadyz asks the published health port until it answers 200.
func waitReadyz(t *testing.T, d *drover, url string, timeout time.Duration) (int, string) {
	t.Helper()
	type answer struct {
		code int
		body string
		err  error
	}
	a := eventually(t, timeout, url+" to answer 200", func() (answer, bool) {
		d.alive(url + " to answer 200")
		code, body, err := tryGet(url)
		return answer{code, body, err}, err == nil && code == 200
	})
	return a.code, a.body
}
