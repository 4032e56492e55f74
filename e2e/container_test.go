package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The whole thing in a real container (podman + runc): drover as the
// container's PID 1, its CPU limit set by the runtime, stopped and signalled
// by the runtime. The image is the Dockerfile's last stage; the host's /bin,
// /lib and /lib64 are mounted read-only so the workers have a shell.

// podmanArgs are podman's global options for this machine. This sandbox (and
// CI's) lacks CAP_SYS_RESOURCE, so the runtime may only lower rlimits, never
// raise them to podman's defaults (hence --ulimit in containerRun too).
func podmanArgs(args ...string) []string {
	return append([]string{"podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"}, args...)
}

func podman(args ...string) *exec.Cmd {
	argv := podmanArgs(args...)
	return exec.Command(argv[0], argv[1:]...)
}

// containerImage builds the image from a static drover and removes it when
// the test ends, so runs leave no images behind.
func containerImage(t *testing.T) string {
	t.Helper()
	require(t, "root", "podman")
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "drover"), ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v: %s", err, out)
	}
	copyFile(t, testdata("container/Containerfile"), filepath.Join(dir, "Containerfile"), 0o644)
	name := fmt.Sprintf("localhost/drover-e2e:%d-%d", os.Getpid(), time.Now().UnixNano())
	if out, err := podman("build", "-q", "-t", name, dir).CombinedOutput(); err != nil {
		t.Fatalf("podman build: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := podman("rmi", "-f", name).CombinedOutput(); err != nil {
			t.Errorf("podman rmi %s: %v: %s", name, err, out)
		}
	})
	return name
}

// startContainer runs drover as PID 1 of a container of img, with podman
// run options runArgs; the container is removed when the test ends.
func startContainer(t *testing.T, img string, runArgs []string, args ...string) (*drover, string) {
	t.Helper()
	name := "drover-e2e-" + strings.ReplaceAll(t.Name(), "/", "-")
	_ = podman("rm", "-f", "-t", "0", name).Run()
	run := podmanArgs("run", "--rm", "--name", name,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
		"-v", "/bin:/bin:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro")
	run = append(append(run, runArgs...), img)
	d := start(t, opts{container: run}, args...)
	// Registered after start's cleanup, so it runs first: the container
	// goes, podman run returns, and the harness finds drover gone.
	t.Cleanup(func() { _ = podman("rm", "-f", "-t", "0", name).Run() })
	return d, name
}

// The container cases share one image, built once and removed at the end.
func TestContainer(t *testing.T) {
	img := containerImage(t)
	t.Run("SizesPoolFromCPULimit", func(t *testing.T) { testContainerSizesPool(t, img) })
	t.Run("PlainInitPassesExitStatus", func(t *testing.T) { testContainerPlainInit(t, img) })
	t.Run("HUPReloadLosesNoRequest", func(t *testing.T) { testContainerReload(t, img) })
	t.Run("ReapsZombies", func(t *testing.T) { testContainerReaps(t, img) })
}

// --cpus 1.5 on a machine with more CPUs: drover, as the container's PID 1,
// starts 2 workers and says it read the runtime's quota. podman stop
// (SIGTERM) ends it with 0.
func testContainerSizesPool(t *testing.T, img string) {
	d, name := startContainer(t, img, []string{"--cpus", "1.5", "-e", "DROVER_WORKERS=auto"}, "sh", "-c", "exec sleep 1000")
	line := d.waitLog(`\d+ workers?: cpu budget.*`, 1, 30*time.Second)[0]
	t.Logf("%s", line)
	if !strings.Contains(line, "2 workers: cpu budget 1.5 (cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu") &&
		!strings.Contains(line, "2 workers: cpu budget 1.5 (cgroup v2 cpu.max 150000 100000 at /sys/fs/cgroup") {
		t.Errorf("sizing line %q, want 2 workers from the 1.5 CPU quota", line)
	}
	d.waitLog(`worker started worker=1 `, 1, 10*time.Second)
	if out, err := podman("stop", "-t", "10", name).CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v: %s", err, out)
	}
	if code := d.wait(20 * time.Second); code != 0 {
		t.Errorf("container exited %d after podman stop, want 0", code)
	}
}

// As a plain init in a container drover exits with the command's status.
func testContainerPlainInit(t *testing.T, img string) {
	d, _ := startContainer(t, img, nil, "sh", "-c", "exit 7")
	if code := d.wait(30 * time.Second); code != 7 {
		t.Errorf("container exited %d, want the command's 7", code)
	}
}

// `podman kill -s HUP` is how an operator reloads a containerised pool:
// every worker is replaced, one slot at a time, and a client loop running
// throughout sees no failed request. The workers are this test binary
// (mounted into the container) in hz-worker mode: they report READY=1 and
// finish their requests on SIGTERM. The container shares the host's network
// so the clients reach drover's socket directly.
func testContainerReload(t *testing.T, img string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	triggers := t.TempDir()
	app := freeAddr(t)
	d, name := startContainer(t, img, []string{"--network", "host",
		"-v", exe + ":/e2e-worker:ro", "-v", triggers + ":/hz",
		"-e", "DROVER_WORKERS=2", "-e", "DROVER_LISTEN=" + app, "-e", "DROVER_HEALTH_ADDR=off", "-e", "DROVER_READY=notify",
		"-e", "HZ_DIR=/hz", "-e", "HZ_READY=1", "-e", workerEnv + "=hz-worker",
	}, "/e2e-worker")
	d.waitLog(`listening addrs=`, 1, 30*time.Second)
	d.waitLog(`worker started worker=1 `, 1, 30*time.Second)
	clients := startClients(4, "http://"+app+"/")
	waitServed(t, clients, 20)
	hup := time.Now()
	if out, err := podman("kill", "-s", "HUP", name).CombinedOutput(); err != nil {
		t.Fatalf("podman kill -s HUP: %v: %s", err, out)
	}
	d.waitLog(`reload complete`, 1, 30*time.Second)
	t.Logf("reload complete %s after the HUP", time.Since(hup))
	waitServed(t, clients, clients.served()+20) // the new workers serve too
	results := clients.finish()
	failed := 0
	for _, r := range results {
		if !r.ok() {
			failed++
			if failed <= 5 {
				t.Errorf("request at %s from the HUP (until %s) failed: %d %v", r.start.Sub(hup), r.end.Sub(hup), r.code, r.err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed across the reload, want none", failed, len(results))
	}
	t.Logf("%d requests across the reload, %d failed", len(results), failed)
	for _, id := range []string{"0", "1"} {
		if c := d.count(`worker started worker=` + id + ` `); c != 2 {
			t.Errorf("slot %s started %d times, want 2 (once, then once on reload)", id, c)
		}
	}
	if out, err := podman("stop", "-t", "10", name).CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v: %s", err, out)
	}
	if code := d.wait(20 * time.Second); code != 0 {
		t.Errorf("container exited %d after podman stop, want 0", code)
	}
}

// Orphans inside a container are reparented to drover, its PID 1, which
// reaps every one: none is left a zombie.
func testContainerReaps(t *testing.T, img string) {
	const n = 50
	d, name := startContainer(t, img, []string{"-v", testdata("orphans.sh") + ":/orphans.sh:ro",
		"-e", "N=" + strconv.Itoa(n), "-e", "DROVER_LOG_LEVEL=debug", "-e", "DROVER_WORKERS=1",
	}, "sh", "/orphans.sh")
	d.waitLog(`reaped orphan`, n, 60*time.Second)
	out, err := podman("inspect", "-f", "{{.State.Pid}}", name).Output()
	if err != nil {
		t.Fatalf("podman inspect: %v", err)
	}
	pid1, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if z := zombies(pid1); len(z) > 0 {
		t.Errorf("zombies left under the container's PID 1 (host pid %d): %v", pid1, z)
	}
	if out, err := podman("stop", "-t", "10", name).CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v: %s", err, out)
	}
	if code := d.wait(20 * time.Second); code != 0 {
		t.Errorf("container exited %d after podman stop, want 0", code)
	}
	if got := d.count(`reaped orphan`); got != n {
		t.Errorf("reaped %d orphans, want %d", got, n)
	}
}
